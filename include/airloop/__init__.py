"""airloop: the closed MLOps loop (validate → version → train → gate → score → drift → retrain) as a library.

Airflow DAGs and plugins call into this package; it never imports Airflow and reads no environment at import time.
"""

__version__ = "0.1.0"

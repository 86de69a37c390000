"""Every pipeline spec in include/pipelines/ becomes its DAGs (features, train, score, monitor, retrain; staleness).

Wiring only: the factory lives in plugins/airloop_airflow, the work in the airloop library. A spec that does not load
becomes one failing `<name>__invalid_spec` DAG; it never stops this file, and so the other specs, from parsing.
"""

from airloop_airflow.factory import build_all

globals().update(build_all())

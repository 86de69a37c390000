"""DAG tests parse the real DAG folder with a throwaway AIRFLOW_HOME; set before Airflow is first imported."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
_home = tempfile.mkdtemp(prefix="airloop-dagtest-")
os.environ.setdefault("AIRFLOW_HOME", _home)
os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
os.environ.setdefault("AIRFLOW__CORE__DAGS_FOLDER", str(ROOT / "dags"))
os.environ.setdefault("AIRFLOW__CORE__PLUGINS_FOLDER", str(ROOT / "plugins"))
os.environ.setdefault("AIRLOOP_DATA_ROOT", Path(_home, "data").as_uri())
os.environ.setdefault("AIRLOOP_SPECS_DIR", str(ROOT / "include" / "pipelines"))
if str(ROOT / "plugins") not in sys.path:  # Airflow puts the plugins folder on sys.path; so do the tests
    sys.path.insert(0, str(ROOT / "plugins"))

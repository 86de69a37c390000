"""Airflow glue for airloop: the DAG factory, the landing-zone watcher trigger, the drift sensor, Model Ops.

Lives in the plugins folder so that the scheduler, the DAG processor and the triggerer can all import it.
Every module here is thin: the work is done by the `airloop` library.
"""

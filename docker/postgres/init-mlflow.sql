-- Runs once, when the PostgreSQL volume is first created: MLflow's backend store gets its own database.
CREATE DATABASE mlflow;

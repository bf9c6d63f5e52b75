-- The postgres image creates the airflow database; MLflow gets its own.
CREATE DATABASE mlflow;

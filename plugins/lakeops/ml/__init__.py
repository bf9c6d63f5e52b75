"""Models: specs (what each model reads and predicts), training and the MLflow registry's
promotion gate, batch scoring, monitoring. Heavy libraries (scikit-learn, MLflow,
Evidently) are imported by the functions that use them, never when a DAG file is parsed."""

import json
import os

model = None


def init():
    global model
    root = os.environ["AZUREML_MODEL_DIR"]
    for dirpath, _, files in os.walk(root):
        for f in files:
            with open(os.path.join(dirpath, f)) as fh:
                model = fh.read().strip()


def run(raw_data):
    return {"model": model, "input": json.loads(raw_data)}

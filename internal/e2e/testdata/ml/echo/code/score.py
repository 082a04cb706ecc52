import json
import os


def init():
    print("init: deployment", os.environ["DEPLOYMENT_COLOR"], "model dir", os.environ.get("AZUREML_MODEL_DIR"))


def run(raw_data):
    return {"color": os.environ["DEPLOYMENT_COLOR"], "echo": json.loads(raw_data)}

# A pipeline with a pipeline component through azure-ai-ml 1.4.0: the
# pipeline's identity is the user's; inside the component (a nested
# @dsl.pipeline) the prep step sets none, so it reads as the compute (rule
# DS-6: inside a component only the step level counts), while the top-level
# train step inherits the user's identity. The component's output feeds
# train; train's output is the pipeline's, without a path.
# Usage: nested.py <group> <workspace> <compute>
# Prints the job's name and final status as JSON on the last line.
import json
import os
import sys

from azure.ai.ml import Input, MLClient, Output, command, dsl, load_component
from azure.ai.ml import UserIdentityConfiguration
from azure.ai.ml.constants import AssetTypes
from azure.identity import DefaultAzureCredential

here = os.path.dirname(os.path.abspath(__file__))
ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], sys.argv[1], sys.argv[2])

prep = command(
    code=os.path.join(here, "src"),
    command="python prep.py ${{inputs.raw}} ${{outputs.prepped}}",
    inputs={"raw": Input(type=AssetTypes.URI_FILE)},
    outputs={"prepped": Output(type=AssetTypes.URI_FOLDER)},
    environment="AzureML-sklearn-1.0-ubuntu20.04-py38-cpu@latest",
)
train = load_component(source=os.path.join(here, "train.yml"))


@dsl.pipeline()
def prepare(raw: Input(type=AssetTypes.URI_FILE)):
    prep_step = prep(raw=raw)
    return {"rows": prep_step.outputs.prepped}


@dsl.pipeline(compute=sys.argv[3])
def census_nested(raw):
    inner = prepare(raw=raw)
    train_step = train(prepped=inner.outputs.rows, raw=raw)
    return {"model": train_step.outputs.model}


pipeline_job = census_nested(raw=Input(type=AssetTypes.URI_FILE, path="azureml://datastores/mydata/paths/census.csv"))
pipeline_job.identity = UserIdentityConfiguration()
job = ml_client.jobs.create_or_update(pipeline_job, experiment_name="census")
ml_client.jobs.stream(job.name)
final = ml_client.jobs.get(job.name)
print(json.dumps({"name": job.name, "status": final.status, "outputs": {k: v.path for k, v in final.outputs.items()}}))

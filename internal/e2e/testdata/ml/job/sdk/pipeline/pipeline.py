# A two-step pipeline through azure-ai-ml 1.4.0: @dsl.pipeline over a
# command() step that reads as the compute's managed identity and a
# load_component step that reads as the submitting user (rule DS-6: each
# step's identity wins), with a pipeline-level output bound from the second
# step. Usage: pipeline.py <group> <workspace> <compute> <output path>
# Prints the job's name, final status, stream failure, step properties, child
# runs (jobs.list(parent_job_name=…)) and outputs as JSON on the last line.
import json
import os
import sys

from azure.ai.ml import Input, MLClient, Output, command, dsl, load_component
from azure.ai.ml import ManagedIdentityConfiguration, UserIdentityConfiguration
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


@dsl.pipeline(compute=sys.argv[3], description="census: prep as the compute, train as the user")
def census_pipeline(raw):
    prep_step = prep(raw=raw)
    prep_step.identity = ManagedIdentityConfiguration()
    train_step = train(prepped=prep_step.outputs.prepped, raw=raw)
    train_step.identity = UserIdentityConfiguration()
    return {"model": train_step.outputs.model}


pipeline_job = census_pipeline(raw=Input(type=AssetTypes.URI_FILE, path="azureml://datastores/mydata/paths/census.csv"))
pipeline_job.outputs.model.path = sys.argv[4]
job = ml_client.jobs.create_or_update(pipeline_job, experiment_name="census")

failure = ""
try:
    ml_client.jobs.stream(job.name)
except Exception as e:  # a failed job raises JobException after streaming
    failure = str(e)
sys.stdout.flush()
final = ml_client.jobs.get(job.name)
# The steps as child runs, as the studio lists them.
children = {c.display_name: {"status": c.status, "principalId": c.properties.get("amlid.principalId")}
            for c in ml_client.jobs.list(parent_job_name=job.name)}
print(json.dumps({"name": job.name, "status": final.status, "failure": failure,
                  "properties": dict(final.properties), "steps": sorted(final.jobs), "children": children,
                  "outputs": {k: v.path for k, v in final.outputs.items()}}))

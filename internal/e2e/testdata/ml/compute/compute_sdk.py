"""azure-ai-ml 1.4.0 computes against amlid (issue 17): MLClient with what
`amlid env` exports. Prints one JSON object for the Go test.

    compute_sdk.py RG WS UAI_ID
"""

import json
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import (AmlCompute, ComputeInstance, IdentityConfiguration,
                                  ManagedIdentityConfiguration)
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential


def ident(c):
    i = c.identity
    if i is None:
        return None
    return {"type": i.type, "principal_id": i.principal_id,
            "uais": sorted(u.resource_id for u in (i.user_assigned_identities or []))}


def main():
    rg, ws, uai = sys.argv[1], sys.argv[2], sys.argv[3]
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws)
    out = {}

    # The exact call.
    cluster = AmlCompute(name="py-cluster", size="STANDARD_DS3_v2", min_instances=1, max_instances=2,
                         idle_time_before_scale_down=120,
                         identity=IdentityConfiguration(type="user_assigned", user_assigned_identities=[
                             ManagedIdentityConfiguration(resource_id=uai)]))
    made = ml_client.compute.begin_create_or_update(cluster).result()
    out["created"] = {"name": made.name, "type": made.type, "identity": ident(made)}
    got = ml_client.compute.get("py-cluster")
    out["get"] = {"name": got.name, "size": got.size, "min": got.min_instances, "max": got.max_instances,
                  "idle": got.idle_time_before_scale_down, "state": got.provisioning_state, "identity": ident(got)}
    out["list"] = sorted(c.name for c in ml_client.compute.list())
    out["nodes"] = [n.node_state for n in ml_client.compute.list_nodes("py-cluster")]

    # A compute instance stopped and started through the pollers (202 + polling).
    ci = ComputeInstance(name="py-instance", size="STANDARD_DS3_v2", idle_time_before_shutdown_minutes=30)
    ml_client.compute.begin_create_or_update(ci).result()
    ml_client.compute.begin_stop("py-instance").result()
    out["stopped"] = ml_client.compute.get("py-instance").state
    ml_client.compute.begin_start("py-instance").result()
    out["started"] = ml_client.compute.get("py-instance").state
    ml_client.compute.begin_restart("py-instance").result()
    out["idle_minutes"] = ml_client.compute.get("py-instance").idle_time_before_shutdown_minutes

    # Bad input: max_instances < min_instances is a 400 in Azure's shape.
    try:
        ml_client.compute.begin_create_or_update(AmlCompute(name="py-bad", min_instances=3, max_instances=1)).result()
        out["bad"] = "accepted"
    except HttpResponseError as e:
        out["bad"] = {"status": e.status_code, "message": e.message}

    ml_client.compute.begin_delete("py-instance").result()
    out["after_delete"] = sorted(c.name for c in ml_client.compute.list())
    print(json.dumps(out))


if __name__ == "__main__":
    main()

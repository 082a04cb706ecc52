"""azure-ai-ml 1.4.0 (Debian's python3-azure) against amlid, as a user writes
it: MLClient(DefaultAzureCredential(), sub, rg, ws) with nothing but what
`amlid env` exports, and the docs' YAML files loaded with azure-ai-ml's own
load_* functions. Each call prints one JSON line for the Go test.

    mlclient.py get RG WS
    mlclient.py update RG WS FILE          # az ml workspace update -n WS -f FILE
    mlclient.py endpoint RG WS FILE        # az ml online-endpoint create -f FILE
"""

import json
import os
import sys

from azure.ai.ml import MLClient, load_online_endpoint, load_workspace
from azure.identity import DefaultAzureCredential


def identity(idc):
    if idc is None:
        return None
    uais = sorted(u.resource_id for u in (idc.user_assigned_identities or []))
    return {"type": idc.type, "principal_id": idc.principal_id, "user_assigned_identities": uais}


def main():
    op, rg, ws_name = sys.argv[1], sys.argv[2], sys.argv[3]
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws_name)
    if op == "get":
        ws = ml_client.workspaces.get(ws_name)
        out = {"name": ws.name, "location": ws.location, "identity": identity(ws.identity),
               "storage_account": ws.storage_account, "key_vault": ws.key_vault}
    elif op == "update":
        ws = load_workspace(source=sys.argv[4], params_override=[{"name": ws_name}])
        ws = ml_client.workspaces.begin_update(ws).result()
        out = {"name": ws.name, "identity": identity(ws.identity),
               "primary_user_assigned_identity": ws.primary_user_assigned_identity}
    elif op == "endpoint":
        endpoint = load_online_endpoint(source=sys.argv[4])
        ml_client.online_endpoints.begin_create_or_update(endpoint).result()
        ep = ml_client.online_endpoints.get(endpoint.name)
        names = [e.name for e in ml_client.online_endpoints.list()]
        out = {"name": ep.name, "auth_mode": ep.auth_mode, "identity": identity(ep.identity),
               "scoring_uri": ep.scoring_uri, "listed": names}
    else:
        raise SystemExit("unknown op " + op)
    print(json.dumps(out))


if __name__ == "__main__":
    main()

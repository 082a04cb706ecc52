"""azure-ai-ml 1.4.0 datastores against amlid (issue 18), as the docs write
them. Prints one JSON object for the Go test.

    datastores.py RG WS ACCOUNT CONTAINER KEY
"""

import json
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml.entities import AccountKeyConfiguration, AzureBlobDatastore
from azure.core.exceptions import HttpResponseError
from azure.identity import DefaultAzureCredential


def shape(ds):
    creds = ds.credentials
    return {"name": ds.name, "type": ds.type, "account_name": ds.account_name, "container_name": ds.container_name,
            "credentials": type(creds).__name__ if creds is not None else None,
            "account_key": getattr(creds, "account_key", None)}


def main():
    rg, ws, account, container, key = sys.argv[1:6]
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws)
    out = {}
    # With an account key (credential-based: the key goes to the workspace vault).
    keyed = AzureBlobDatastore(name="blob_with_key", description="Datastore pointing to a blob container using an account key.",
                               account_name=account, container_name=container,
                               credentials=AccountKeyConfiguration(account_key=key))
    out["created_keyed"] = shape(ml_client.datastores.create_or_update(keyed))
    # Without credentials (identity-based): the caller's own access is checked first (DS-4).
    identity = AzureBlobDatastore(name="blob_identity", description="Datastore pointing to a blob container using identity-based access.",
                                  account_name=account, container_name=container)
    try:
        ml_client.datastores.create_or_update(identity)
        out["identity_refused"] = None
    except HttpResponseError as e:
        out["identity_refused"] = {"status": e.status_code, "message": str(e)}
    out["get"] = shape(ml_client.datastores.get("blob_with_key"))
    out["get_with_secret"] = shape(ml_client.datastores.get("blob_with_key", include_secrets=True))
    out["list"] = sorted(d.name for d in ml_client.datastores.list())
    out["default"] = shape(ml_client.datastores.get_default())
    print(json.dumps(out))


def identity_only():
    rg, ws, account, container = sys.argv[2:6]
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws)
    ds = AzureBlobDatastore(name="blob_identity", account_name=account, container_name=container)
    print(json.dumps(shape(ml_client.datastores.create_or_update(ds))))


if __name__ == "__main__":
    if sys.argv[1] == "identity":
        identity_only()
    else:
        main()

"""azure-ai-ml 1.4.0 data asset versions and the other datastore kinds
against amlid (issue 18). Prints one JSON object for the Go test.

    data_versions.py RG WS ACCOUNT SAS
"""

import json
import os
import sys

from azure.ai.ml import MLClient
from azure.ai.ml._restclient.v2022_10_01_preview.models import ListViewType
from azure.ai.ml.constants import AssetTypes
from azure.ai.ml.entities import (AzureDataLakeGen1Datastore, AzureDataLakeGen2Datastore, AzureFileDatastore, Data,
                                  SasTokenConfiguration, ServicePrincipalConfiguration)
from azure.core.exceptions import HttpResponseError, ResourceNotFoundError
from azure.identity import DefaultAzureCredential


def refusal(fn):
    try:
        fn()
        return None
    except HttpResponseError as e:
        return {"status": e.status_code, "message": str(e)}


def main():
    rg, ws, account, sas = sys.argv[1:5]
    ml_client = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], rg, ws)
    out = {}

    # The other datastore kinds, as the docs write them.
    gen1 = ml_client.datastores.create_or_update(AzureDataLakeGen1Datastore(name="adls_gen1", store_name="mygen1store",
                                                                            description="identity-based Gen1"))
    out["gen1"] = {"type": gen1.type, "store_name": gen1.store_name, "credentials": type(gen1.credentials).__name__}
    files = ml_client.datastores.create_or_update(AzureFileDatastore(name="file_sas", account_name=account, file_share_name="share",
                                                                     credentials=SasTokenConfiguration(sas_token=sas)))
    out["file"] = {"type": files.type, "share": files.file_share_name, "sas": getattr(files.credentials, "sas_token", None)}
    out["file_secret"] = getattr(ml_client.datastores.get("file_sas", include_secrets=True).credentials, "sas_token", None)
    lake = ml_client.datastores.create_or_update(AzureDataLakeGen2Datastore(name="adls_sp", account_name=account, filesystem="fs1",
                                                                            credentials=ServicePrincipalConfiguration(
                                                                                tenant_id=os.environ["AZURE_TENANT_ID"],
                                                                                client_id="00000000-0000-0000-0000-000000000001",
                                                                                client_secret="sp-secret-for-adls")))
    out["lake"] = {"type": lake.type, "filesystem": lake.filesystem, "client_secret": getattr(lake.credentials, "client_secret", None)}
    ml_client.datastores.delete("adls_sp")
    try:
        ml_client.datastores.get("adls_sp")
        out["deleted"] = False
    except ResourceNotFoundError:
        out["deleted"] = True

    # Data versions: auto-increment, an explicit version, latest, archive.
    blob = "azureml://datastores/workspaceblobstore/paths/"
    v1 = ml_client.data.create_or_update(Data(name="ver", path=blob + "a.csv", type=AssetTypes.URI_FILE))
    v2 = ml_client.data.create_or_update(Data(name="ver", path=blob + "b.csv", type=AssetTypes.URI_FILE))
    v10 = ml_client.data.create_or_update(Data(name="ver", version="10", path=blob + "c.csv", type=AssetTypes.URI_FILE))
    v11 = ml_client.data.create_or_update(Data(name="ver", path=blob + "d/", type=AssetTypes.URI_FOLDER))
    out["versions"] = [v1.version, v2.version, v10.version, v11.version]
    out["latest"] = ml_client.data.get(name="ver", label="latest").version
    ml_client.data.archive(name="ver", version="1")
    out["active"] = sorted(d.version for d in ml_client.data.list(name="ver"))
    out["all"] = sorted(d.version for d in ml_client.data.list(name="ver", list_view_type=ListViewType.ALL))
    out["archived"] = sorted(d.version for d in ml_client.data.list(name="ver", list_view_type=ListViewType.ARCHIVED_ONLY))
    ml_client.data.create_or_update(Data(name="gone", path=blob + "e.csv", type=AssetTypes.URI_FILE))
    ml_client.data.archive(name="gone")
    out["containers"] = sorted(d.name for d in ml_client.data.list())
    ml_client.data.restore(name="gone")
    out["restored"] = sorted(d.name for d in ml_client.data.list())

    # Bad references: refused by amlid with the reason.
    out["unknown_datastore"] = refusal(lambda: ml_client.data.create_or_update(
        Data(name="bad", version="1", path="azureml://datastores/nosuch/paths/x.csv", type=AssetTypes.URI_FILE)))
    out["climb"] = refusal(lambda: ml_client.data.create_or_update(
        Data(name="bad", version="1", path=blob + "a/../../x.csv", type=AssetTypes.URI_FILE)))
    print(json.dumps(out))


if __name__ == "__main__":
    main()

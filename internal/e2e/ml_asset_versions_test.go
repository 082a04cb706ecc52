package e2e

import (
	"strings"
	"testing"
)

// One implementation of ML asset versions (ml.AssetVersionTypes) for
// models and environments, through azure-ai-ml 1.4.0: after versions 1, 2
// and 10 (string order would put 2 last, key order 10 before 2),
// get(name, label="latest") — $orderBy=createdtime desc&$top=1 — is 10; an
// archived version is hidden from list() by default and shown with
// list_view_type=ALL; get(label="latest") skips an archived newest version;
// the container numbers the next version from 10; the CLI's
// environment list shows archived versions only with --include-archived.
func TestAssetVersionsLatestPythonSDK(t *testing.T) {
	t.Parallel()
	in := start(t, "")
	cfg := t.TempDir()
	in.mustCLI(cfg, "group", "create", "-n", "pyav-rg", "-l", "eastus")
	in.mustCLI(cfg, "ml", "workspace", "create", "-n", "pyav-ws", "-g", "pyav-rg")
	got := mustJSON(t, in.python(t, nil, "-c", `
import json, os
from azure.ai.ml import MLClient
from azure.ai.ml._restclient.v2022_10_01_preview.models import ListViewType
from azure.ai.ml.entities import Environment, Model
from azure.identity import DefaultAzureCredential
ml = MLClient(DefaultAzureCredential(), os.environ["AZURE_SUBSCRIPTION_ID"], "pyav-rg", "pyav-ws")
out = {}
for v in ["1", "2", "10"]:
    ml.models.create_or_update(Model(name="clf", version=v, path="https://pyavdata.blob.core.windows.net/models/clf/" + v))
    ml.environments.create_or_update(Environment(name="env", version=v, image="mcr.microsoft.com/azureml/minimal-ubuntu20.04:" + v))
out["model_latest"] = ml.models.get("clf", label="latest").version
out["env_latest"] = ml.environments.get("env", label="latest").version
ml.models.archive("clf", version="2")
ml.environments.archive("env", version="2")
out["models"] = sorted(m.version for m in ml.models.list("clf"))
out["models_all"] = sorted(m.version for m in ml.models.list("clf", list_view_type=ListViewType.ALL))
out["models_archived"] = sorted(m.version for m in ml.models.list("clf", list_view_type=ListViewType.ARCHIVED_ONLY))
out["envs"] = sorted(e.version for e in ml.environments.list("env"))
out["envs_all"] = sorted(e.version for e in ml.environments.list("env", list_view_type=ListViewType.ALL))
ml.environments.archive("env", version="10")
out["env_latest_unarchived"] = ml.environments.get("env", label="latest").version
out["model_next"] = ml.models._model_container_operation.get(name="clf", resource_group_name="pyav-rg", workspace_name="pyav-ws").properties.next_version
print(json.dumps(out))
`))
	for k, want := range map[string]string{
		"model_latest":          `"10"`,
		"env_latest":            `"10"`,
		"models":                `["1","10"]`,
		"models_all":            `["1","10","2"]`,
		"models_archived":       `["2"]`,
		"envs":                  `["1","10"]`,
		"envs_all":              `["1","10","2"]`,
		"env_latest_unarchived": `"1"`,
		"model_next":            `"11"`,
	} {
		if g := jsonText(got[k]); g != want {
			t.Errorf("%s: %s, want %s (all: %v)", k, g, want, got)
		}
	}
	// The CLI over the same lists: archived versions only with
	// --include-archived (listViewType=All).
	for flags, want := range map[string]string{"": "1", "--include-archived": "1,10,2"} {
		args := []string{"ml", "environment", "list", "-n", "env", "-g", "pyav-rg", "-w", "pyav-ws", "--query", "[].version", "-o", "tsv"}
		if flags != "" {
			args = append(args, flags)
		}
		if v := in.mustCLI(cfg, args...); strings.Join(strings.Fields(v), ",") != want {
			t.Errorf("ml environment list %s: %q, want %s", flags, v, want)
		}
	}
}

package runtime

import (
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// seedScore is the seed walkthrough's score_managedidentity.py without the
// blob access (the e2e test of the ML walkthrough runs it whole), with its
// imports: init() loads the model from
// $AZUREML_MODEL_DIR/model/sklearn_regression_model.pkl with joblib, run()
// predicts json.loads(raw_data)["data"] with numpy.
const seedScore = `import os
import logging
import json
import numpy
import joblib
import requests
from azure.identity import ManagedIdentityCredential
from azure.storage.blob import BlobClient


def init():
    global model
    model_path = os.path.join(
        os.getenv("AZUREML_MODEL_DIR"), "model/sklearn_regression_model.pkl"
    )
    model = joblib.load(model_path)
    logging.info("Model loaded")
    logging.info("Init complete")


def run(raw_data):
    logging.info("Request received")
    data = json.loads(raw_data)["data"]
    data = numpy.array(data)
    result = model.predict(data)
    logging.info("Request processed")
    return result.tolist()
`

// trainModel saves a LinearRegression fitted on y = sum(x) as the seed's
// model/sklearn_regression_model.pkl, with Debian's python3-sklearn.
func trainModel(t testing.TB) string {
	t.Helper()
	dir := t.TempDir()
	must(t, os.MkdirAll(filepath.Join(dir, "model"), 0o755))
	train := `import sys, joblib, numpy
from sklearn.linear_model import LinearRegression
rng = numpy.random.default_rng(0)
X = rng.integers(0, 10, size=(50, 10))
model = LinearRegression().fit(X, X.sum(axis=1))
joblib.dump(model, sys.argv[1])
`
	out, err := exec.Command(python(t), "-c", train, filepath.Join(dir, "model", "sklearn_regression_model.pkl")).CombinedOutput()
	if err != nil {
		t.Fatalf("training with %s failed (apt-get install -y python3-sklearn python3-joblib python3-numpy; scripts/test.sh does): %v\n%s",
			python(t), err, out)
	}
	return dir
}

// TestSeedModelWithSklearn: the walkthrough's model and request through a
// real deployment: numpy, joblib and sklearn import with /usr/bin/python3.
func TestSeedModelWithSklearn(t *testing.T) {
	t.Parallel()
	s := newSup(t)
	id := depID("blue")
	start(t, s, Spec{ID: id, CodeDir: code(t, map[string]string{"score_managedidentity.py": seedScore}),
		ScoringScript: "score_managedidentity.py", ModelDir: trainModel(t), Instances: 1})
	sample := `{"data": [
    [1,2,3,4,5,6,7,8,9,10], 
    [10,9,8,7,6,5,4,3,2,1]
]}`
	status, body, _ := score(t, s, id, sample)
	var got []float64
	if status != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got) != 2 {
		t.Fatalf("score = %d %s", status, body)
	}
	for _, v := range got {
		if math.Abs(v-55) > 1e-6 {
			t.Fatalf("predictions %v, want [55 55]", got)
		}
	}
	must(t, s.Stop(t.Context(), id)) // all output is in the log once Stop returns
	logs := mustLogs(t, s, id)
	for _, want := range []string{"root - Model loaded", "root - Init complete", "root - Request processed"} {
		if !strings.Contains(logs, want) {
			t.Errorf("logs lack %q:\n%s", want, logs)
		}
	}
}

package runtime

import (
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/msi"
)

// passEnv are the server variables a scoring process inherits: what a
// shell and Python need to run, locate packages and trust CAs. Nothing
// else passes (amlid's AZURE_CLIENT_SECRET, AMLID_*, database URLs, cloud
// credentials of the machine). Proxy variables do not pass either: the
// managed-identity endpoint and amlid's data planes are on loopback. HOME
// is the deployment's own folder (see buildEnv).
var passEnv = []string{
	"PATH", "USER", "LOGNAME", "SHELL", "LANG", "LANGUAGE", "TZ", "TMPDIR", "TERM",
	"PYTHONPATH", "PYTHONUSERBASE", "PYTHONNOUSERSITE", "PYTHONWARNINGS", "PYTHONDONTWRITEBYTECODE", "VIRTUAL_ENV",
	"LD_LIBRARY_PATH", "OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS",
	"SSL_CERT_FILE", "SSL_CERT_DIR", "REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE",
}

// Variables amlid sets for the scoring code, as Azure does.
const (
	EnvModelDir    = "AZUREML_MODEL_DIR"
	EnvAppRoot     = "AML_APP_ROOT"
	EnvEntryScript = "AZUREML_ENTRY_SCRIPT"
)

func passes(name string) bool {
	if slices.Contains(msi.ScrubbedEnv, name) {
		return false
	}
	return slices.Contains(passEnv, name) || strings.HasPrefix(name, "LC_")
}

func (s *Supervisor) environ() []string {
	if s.cfg.Environ != nil {
		return s.cfg.Environ
	}
	return os.Environ()
}

// buildEnv is a process's environment: the allow-listed part of parent,
// HOME set to home, then spec.Env, then the Azure ML variables (later
// wins), sorted. A HOME of its own, as a container has, keeps the scoring
// code away from the machine's ~/.azure: DefaultAzureCredential must not
// fall back to the developer's `az login` and hide a missing role of the
// endpoint identity.
func buildEnv(parent []string, home string, spec Spec) []string {
	env := map[string]string{"HOME": home}
	for _, kv := range parent {
		k, v, ok := strings.Cut(kv, "=")
		if ok && passes(k) {
			env[k] = v
		}
	}
	for k, v := range spec.Env {
		env[k] = v
	}
	env["PYTHONUNBUFFERED"] = "1"
	env[EnvAppRoot] = spec.CodeDir
	env[EnvEntryScript] = spec.ScoringScript
	if spec.ModelDir != "" {
		env[EnvModelDir] = spec.ModelDir
	}
	out := make([]string, 0, len(env))
	for k, v := range env {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return out
}

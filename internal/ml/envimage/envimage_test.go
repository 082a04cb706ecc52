package envimage

import (
	"encoding/base64"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/random"
)

// The same inputs give the same image digest; any input change changes it.
func TestAssembleDeterministic(t *testing.T) {
	base, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	bd, _ := base.Digest()
	files := map[string][]byte{"requirements.txt": []byte("numpy\n"), "src/a.py": []byte("print(1)\n")}
	a, ha, err := assemble(base, bd.String(), "name: e\n", files)
	if err != nil {
		t.Fatal(err)
	}
	b, hb, _ := assemble(base, bd.String(), "name: e\n", map[string][]byte{"src/a.py": []byte("print(1)\n"), "requirements.txt": []byte("numpy\n")})
	da, _ := a.Digest()
	db, _ := b.Digest()
	if da != db || ha != hb {
		t.Fatalf("same inputs: %s/%s vs %s/%s", da, ha, db, hb)
	}
	c, hc, _ := assemble(base, bd.String(), "name: f\n", files)
	dc, _ := c.Digest()
	if dc == da || hc == ha {
		t.Fatalf("a different conda file gave the same image %s", dc)
	}
	layers, _ := a.Layers()
	if len(layers) != 3 {
		t.Fatalf("%d layers, want 3", len(layers))
	}
	cf, _ := a.ConfigFile()
	if cf.Config.Labels["com.microsoft.azureml.base-image"] != bd.String() {
		t.Fatalf("labels: %v", cf.Config.Labels)
	}
}

func TestContextFiles(t *testing.T) {
	enc := base64.StdEncoding.EncodeToString
	for _, bad := range []string{"../x", "a/../../x", "/etc/passwd", ""} {
		props := map[string]any{ContextProp: map[string]any{bad: enc([]byte("x"))}}
		if _, err := contextFiles(props); err == nil || !strings.Contains(err.Error(), "leaves the context") {
			t.Errorf("path %q: %v", bad, err)
		}
	}
	props := map[string]any{ContextProp: map[string]any{"Dockerfile": enc([]byte("# base\nFROM --platform=linux/amd64 127.0.0.1:5000/base/py:1 AS b\n")), "a..b.txt": enc([]byte("ok"))}}
	files, err := contextFiles(props)
	if err != nil || len(files) != 2 || props[ContextProp] != nil || props["buildContextHash"] == "" {
		t.Fatalf("good context: %v %v %v", files, err, props)
	}
	if from := dockerfileFrom(files, props); from != "127.0.0.1:5000/base/py:1" {
		t.Fatalf("FROM: %q", from)
	}
	if _, err := contextFiles(map[string]any{ContextProp: map[string]any{"a": "not base64!"}}); err == nil {
		t.Fatal("bad base64 accepted")
	}
}

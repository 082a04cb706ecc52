package output

import (
	"bytes"
	"encoding/json"
	"os"
	"strings"
	"testing"
)

// testdata/golden.json was produced by running Debian azure-cli 2.45's own
// formatters (knack.output format_json/_TsvOutput/_TableOutput/format_yaml
// and jmespath with OrderedDict, as az does) with /usr/bin/python3 on the
// same inputs; these tests prove byte-for-byte parity.
func TestParityWithAz(t *testing.T) {
	raw, err := os.ReadFile("testdata/golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases map[string]struct {
		Result any    `json:"result"`
		Fmt    string `json:"fmt"`
		Query  string `json:"query"`
		Want   string `json:"want"`
	}
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := Render(&buf, tc.Result, Format(tc.Fmt), tc.Query, false); err != nil {
				t.Fatal(err)
			}
			if buf.String() != tc.Want {
				t.Fatalf("got\n%q\nwant\n%q", buf.String(), tc.Want)
			}
		})
	}
}

func TestErrors(t *testing.T) {
	if _, err := ParseFormat("xml"); err == nil || !strings.Contains(err.Error(), "invalid choice: 'xml'") {
		t.Fatalf("format: %v", err)
	}
	if err := Render(&bytes.Buffer{}, map[string]any{}, JSON, "[[[", false); err == nil || !strings.Contains(err.Error(), "invalid jmespath_type value") {
		t.Fatalf("query: %v", err)
	}
	var buf bytes.Buffer
	if err := Render(&buf, map[string]any{"a": 1}, None, "", false); err != nil || buf.Len() != 0 {
		t.Fatalf("none: %q %v", buf.String(), err)
	}
}

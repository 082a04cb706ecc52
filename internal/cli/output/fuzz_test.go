package output

import (
	"encoding/json"
	"testing"
)

// FuzzQuery: --query is user input parsed by our JMESPath implementation.
// Compiling and searching never panic, whatever the expression and
// output format.
func FuzzQuery(f *testing.F) {
	for _, s := range []string{
		"[].name", "[?type=='User'].{n:name, id:id}", "length(@)", "sort_by(@, &name)[-1]", "[0:10:2]", "a.b.c || `1`",
		"[?contains(name, 'x')] | [0]", "&foo", "*.*", "[*][*]", "max_by(@, &n)", "to_number('1e400')", "`{\"a\": [1, 2]}`",
		"[?a > `1` && !b]", "join(', ', [].name)", "\"quoted id\"", "@[?@]", "[::-1]", "((((", "[?", "`",
	} {
		f.Add(s)
	}
	var doc any
	json.Unmarshal([]byte(`[{"name":"a","id":"1","type":"User","n":3,"tags":{"x":"y"},"a":2,"b":false},
		{"name":"b","id":"2","type":"Group","n":1.5,"list":[1,"2",null,true]},{"name":null}]`), &doc)
	f.Fuzz(func(t *testing.T, q string) {
		for _, format := range []Format{"json", "tsv", "table", "yaml"} {
			_, _ = Sprint(doc, format, Options{Query: q})
		}
	})
}

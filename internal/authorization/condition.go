package authorization

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/amlid/amlid/internal/arm"
)

// checkCondition refuses every role assignment that carries an ABAC
// condition (issue 15 hole 5). amlid does not evaluate Azure's condition
// language, and an assignment stored with a condition it ignores would
// grant more than its author meant: a narrowing must never become a
// widening. A malformed condition (or a version other than 2.0) gets
// Azure's "condition is invalid" answer first, so a person fixing it for
// Azure learns that too; a well-formed one is refused as unsupported.
func checkCondition(cond, version string) error {
	if strings.TrimSpace(cond) == "" {
		if version != "" {
			return arm.Errorf(http.StatusBadRequest, "InvalidRoleAssignmentCondition",
				"The given role assignment condition is invalid: conditionVersion %q is set without a condition.", version)
		}
		return nil
	}
	if version != "" && version != "2.0" {
		return arm.Errorf(http.StatusBadRequest, "InvalidRoleAssignmentCondition",
			"The given role assignment condition is invalid: conditionVersion must be \"2.0\" (the only version Azure supports), not %q.", version)
	}
	if why := malformedCondition(cond); why != "" {
		return arm.Errorf(http.StatusBadRequest, "InvalidRoleAssignmentCondition",
			"The given role assignment condition is invalid: %s.", why)
	}
	return arm.Errorf(http.StatusBadRequest, "RoleAssignmentConditionNotSupported",
		"amlid does not evaluate role assignment conditions (ABAC), so it refuses assignments that carry one rather than grant the role without its restriction. "+
			"Create the assignment without 'condition' at a narrower scope instead (e.g. the container: …/blobServices/default/containers/<name>).")
}

// malformedCondition is a syntax check of the condition language's
// delimiters: parentheses, brackets and braces balanced and properly
// nested outside string literals, string literals closed, and at least one
// attribute reference or ActionMatches. It returns why the text is not a
// condition, or "".
func malformedCondition(c string) string {
	var stack []rune
	closing := map[rune]rune{')': '(', ']': '[', '}': '{'}
	inStr := false
	for i, r := range c {
		if inStr {
			if r == '\'' {
				inStr = false
			}
			continue
		}
		switch r {
		case '\'':
			inStr = true
		case '(', '[', '{':
			stack = append(stack, r)
		case ')', ']', '}':
			if len(stack) == 0 || stack[len(stack)-1] != closing[r] {
				return "unbalanced '" + string(r) + "' at offset " + strconv.Itoa(i)
			}
			stack = stack[:len(stack)-1]
		}
	}
	switch {
	case inStr:
		return "a string literal is not closed"
	case len(stack) > 0:
		return "'" + string(stack[len(stack)-1]) + "' is not closed"
	}
	l := strings.ToLower(c)
	if !strings.Contains(l, "@resource[") && !strings.Contains(l, "@request[") && !strings.Contains(l, "@principal[") &&
		!strings.Contains(l, "@environment[") && !strings.Contains(l, "actionmatches{") && !strings.Contains(l, "suboperationmatches{") {
		return "it references no attribute (@Resource[…], @Request[…], @Principal[…], @Environment[…]) and no ActionMatches{…}"
	}
	return ""
}

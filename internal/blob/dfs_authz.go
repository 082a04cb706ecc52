package blob

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"

	"github.com/amlid/amlid/internal/storage"
	"github.com/amlid/amlid/internal/store"
)

// Rule DS-9: on an HNS account RBAC is evaluated first; when no role grants
// the data action, the POSIX ACLs of the path decide.

// aclRefusal explains which ACL entry refused what, on which path.
type aclRefusal struct {
	path    string // /<filesystem>/<path>
	attrs   *posixAttrs
	verdict aclVerdict
	want    perm
	why     string // what the operation needs there
	fixPath string // path for the fix command ("" = root)
	other   string // a refusal that is not an ACL entry (sticky bit, owner)
}

func (r *aclRefusal) String() string {
	if r.other != "" {
		return "POSIX ACLs (rule DS-9) do not allow it either: " + r.other
	}
	v := r.verdict
	granted := v.Granted.String()
	if v.Mask != "" {
		granted += " (limited by " + v.Mask + ")"
	}
	return fmt.Sprintf("POSIX ACLs (rule DS-9) do not allow it either: on '%s' (owner %s, group %s, permissions %s) the entry '%s' applies to the caller and grants %s, and %s needs %s there.",
		r.path, r.attrs.Owner, r.attrs.Group, r.attrs.permissionsString(), v.Entry, granted, r.why, r.want)
}

// fix is the amlid command that grants the missing ACL entry.
func (r *aclRefusal) fix(q *req, oid string) string {
	if r.other != "" || r.attrs == nil {
		return ""
	}
	a := *r.attrs
	a.Access.Named = append([]aclEntry(nil), a.Access.Named...)
	merged := r.want
	for _, e := range a.Access.Named {
		if !e.Group && strings.EqualFold(e.ID, oid) {
			merged |= e.Perm
		}
	}
	a.Access.setEntry(parsedEntry{kind: "user", id: oid, perm: merged, hasPerm: true})
	a.Access.recomputeMask(false)
	if a.Access.HasMask {
		a.Access.Mask |= merged
	}
	a.Def = nil
	p := r.fixPath
	if p == "" {
		p = "/"
	}
	return fmt.Sprintf("amlid storage fs access set --acl '%s' -p '%s' -f %s --account-name %s --auth-mode login",
		a.aclString(), p, q.container, q.account.Name)
}

// pathView reads path attributes for one authorization (no transaction:
// the operation re-reads what it changes).
type pathView struct {
	ctx  context.Context
	rd   store.Reader
	c    *storage.Container
	root *posixAttrs
	recs map[string]*blobRecord // nil value: missing
}

func (v *pathView) get(p string) (*blobRecord, error) {
	if b, ok := v.recs[p]; ok {
		return b, nil
	}
	b, err := getBlob(v.ctx, v.rd, v.c, p)
	if errors.Is(err, store.ErrNotFound) {
		b, err = nil, nil
	}
	if err != nil {
		return nil, err
	}
	v.recs[p] = b
	return b, nil
}

// attrsOf returns the attributes of an existing directory or file ("" is
// the root); nil when it does not exist.
func (v *pathView) attrsOf(p string) (*posixAttrs, bool, error) {
	if p == "" {
		return v.root, true, nil
	}
	b, err := v.get(p)
	if err != nil || b == nil {
		return nil, false, err
	}
	return b.attrs(), b.isDir(), nil
}

func newPathView(ctx context.Context, rd store.Reader, c *storage.Container) (*pathView, error) {
	root, err := rootAttrs(ctx, rd, c)
	if err != nil {
		return nil, err
	}
	return &pathView{ctx: ctx, rd: rd, c: c, root: root, recs: map[string]*blobRecord{}}, nil
}

// aclCheck runs the checks of need for principal p on path target; it
// returns nil when allowed.
func (q *req) aclCheck(v *pathView, p *principal, need aclNeed, target string) (*aclRefusal, error) {
	refuse := func(path string, a *posixAttrs, vd aclVerdict, want perm, why string) *aclRefusal {
		return &aclRefusal{path: q.dfsPathOf(path), attrs: a, verdict: vd, want: want, why: why, fixPath: path}
	}
	// Execute on every existing directory above the target; the deepest
	// existing one is where a missing target would be created.
	deepest := ""
	dirs := append([]string{""}, ancestors(target)...)
	if target == "" {
		dirs = nil
	}
	for _, d := range dirs {
		a, isDir, err := v.attrsOf(d)
		if err != nil {
			return nil, err
		}
		if a == nil || !isDir {
			break
		}
		deepest = d
		if vd := a.check(p, permX); !vd.Allowed {
			return refuse(d, a, vd, permX, "every operation on a path below it (execute on each parent directory)"), nil
		}
	}
	ta, tIsDir, err := v.attrsOf(target)
	if err != nil {
		return nil, err
	}
	parentExists := target != "" && (deepest == parentOf(target))
	needOn := func(path string, a *posixAttrs, want perm, why string) *aclRefusal {
		if vd := a.check(p, want); !vd.Allowed {
			return refuse(path, a, vd, want, why)
		}
		return nil
	}
	switch need {
	case needRead:
		if ta != nil {
			return needOn(target, ta, permR, "reading it"), nil
		}
	case needWrite:
		if ta != nil {
			return needOn(target, ta, permW, "writing to it"), nil
		}
		pa, _, _ := v.attrsOf(deepest)
		return needOn(deepest, pa, permW|permX, "creating '"+target+"' in it"), nil
	case needCreate:
		pa, _, _ := v.attrsOf(deepest)
		if ta != nil && !tIsDir {
			if r := needOn(target, ta, permW, "overwriting it"); r == nil {
				return nil, nil
			}
		}
		return needOn(deepest, pa, permW|permX, "creating '"+target+"' in it"), nil
	case needDelete:
		if ta == nil || !parentExists {
			return nil, nil
		}
		return q.deleteCheck(v, p, target, ta)
	case needList:
		if ta != nil && tIsDir {
			return needOn(target, ta, permR|permX, "listing it"), nil
		}
	case needOwner:
		if ta != nil && !strings.EqualFold(ta.Owner, p.ObjectID) {
			return &aclRefusal{other: fmt.Sprintf("only the owner of '%s' (%s) or a superuser (role Storage Blob Data Owner) may change its permissions or ACL, and the caller %s is neither.",
				q.dfsPathOf(target), ta.Owner, p.ObjectID)}, nil
		}
	case needRename:
		if ta != nil {
			return needOn(target, ta, permW, "overwriting it"), nil
		}
		pa, _, _ := v.attrsOf(deepest)
		return needOn(deepest, pa, permW|permX, "moving '"+target+"' into it"), nil
	}
	return nil, nil
}

// deleteCheck: -wx on the parent, and with the sticky bit the caller must
// own the path or the parent.
func (q *req) deleteCheck(v *pathView, p *principal, target string, ta *posixAttrs) (*aclRefusal, error) {
	parent := parentOf(target)
	pa, _, err := v.attrsOf(parent)
	if err != nil {
		return nil, err
	}
	if vd := pa.check(p, permW|permX); !vd.Allowed {
		return &aclRefusal{path: q.dfsPathOf(parent), attrs: pa, verdict: vd, want: permW | permX, why: "deleting or moving '" + target + "' out of it", fixPath: parent}, nil
	}
	if pa.Sticky && !strings.EqualFold(ta.Owner, p.ObjectID) && !strings.EqualFold(pa.Owner, p.ObjectID) {
		return &aclRefusal{other: fmt.Sprintf("the directory '%s' has the sticky bit (%s): only the owner of '%s' (%s), the directory's owner (%s) or a superuser may delete or move it.",
			q.dfsPathOf(parent), pa.permissionsString(), q.dfsPathOf(target), ta.Owner, pa.Owner)}, nil
	}
	return nil, nil
}

// aclTarget is the path an operation's ACL check is about.
func (q *req) aclTarget() string {
	switch q.op.name {
	case "ListBlobs":
		return parentOf(q.query("prefix") + "x")
	case "ListPaths":
		return strings.Trim(q.query("directory"), "/")
	}
	return q.blob
}

// aclAuthorize evaluates the POSIX ACLs for a bearer caller RBAC refused.
func (h *Handler) aclAuthorize(q *req) (bool, string, error) {
	need := q.op.acl
	if need == needNone && !q.dfs {
		need = blobACLNeed(q.op.name)
	}
	if need == needNone || q.container == "" {
		return false, "", nil
	}
	ctx := q.r.Context()
	c, err := h.prov.Container(ctx, q.account, q.container)
	if errors.Is(err, storage.ErrContainerNotFound) {
		return false, "", nil
	}
	if err != nil {
		return false, "", err
	}
	cl := q.auth.claims
	// Groups: the token's claim and the directory's current (transitive)
	// memberships, as RBAC expands groups at decision time.
	groups := append([]string(nil), cl.Groups...)
	if live, err := h.dir.GroupsOf(ctx, cl.TenantID, cl.ObjectID); err == nil {
		groups = append(groups, live...)
	}
	p := &principal{ObjectID: cl.ObjectID, Groups: groups}
	v, err := newPathView(ctx, h.st, c)
	if err != nil {
		return false, "", err
	}
	target := q.aclTarget()
	if need == needRename {
		src, err := h.renameSource(q, c)
		if err != nil {
			return false, "", err
		}
		if src.container == q.container && src.path != "" {
			sa, _, err := v.attrsOf(src.path)
			if err != nil {
				return false, "", err
			}
			if sa != nil {
				r, err := q.aclCheck(v, p, needTraverse, src.path)
				if err == nil && r == nil {
					r, err = q.deleteCheck(v, p, src.path, sa)
				}
				if err != nil {
					return false, "", err
				}
				if r != nil {
					return false, q.explainACL(r, cl.ObjectID), nil
				}
			}
		}
	}
	r, err := q.aclCheck(v, p, need, target)
	if err == nil && r == nil && q.op.name == "ListBlobs" && q.query("delimiter") == "" {
		r, err = q.flatListCheck(ctx, h, v, p, c, target)
	}
	if err != nil {
		return false, "", err
	}
	if r != nil {
		return false, q.explainACL(r, cl.ObjectID), nil
	}
	q.posix = p
	return true, "", nil
}

// flatListCheck: a Blob listing without a delimiter shows the whole
// subtree, so every directory in it must grant r-x, as a recursive DFS
// listing needs.
func (q *req) flatListCheck(ctx context.Context, h *Handler, v *pathView, p *principal, c *storage.Container, dir string) (*aclRefusal, error) {
	prefix := ""
	if dir != "" {
		prefix = dir + "/"
	}
	after := ""
	for {
		opts := store.ListOptions{KeyPrefix: blobKey(c, prefix), Limit: listPage}
		if after != "" {
			opts.After = after
		}
		recs, err := h.st.List(ctx, KindBlob, opts)
		if err != nil {
			return nil, err
		}
		for _, rec := range recs {
			after = rec.Key
			var b blobRecord
			if err := json.Unmarshal(rec.Value, &b); err != nil {
				return nil, err
			}
			if !b.isDir() {
				continue
			}
			a := b.attrs()
			if vd := a.check(p, permR|permX); !vd.Allowed {
				return &aclRefusal{path: q.dfsPathOf(b.Name), attrs: a, verdict: vd, want: permR | permX,
					why: "a listing without a delimiter, which shows what is inside it,", fixPath: b.Name}, nil
			}
		}
		if len(recs) < listPage {
			return nil, nil
		}
	}
}

func (q *req) explainACL(r *aclRefusal, oid string) string {
	s := " " + r.String()
	if f := r.fix(q, oid); f != "" {
		s += " Or grant the ACL entry: " + f
	}
	return s
}

// renameRef is a parsed x-ms-rename-source.
type renameRef struct {
	container, path, query string
}

// renameSource parses x-ms-rename-source: "/<filesystem>/<path>[?sas]",
// percent-encoded. azdatalake sends its URL's path, which on a path-style
// URL starts with the account; Python sends the filesystem and path. The
// source is the reading whose filesystem is this request's (renames stay in
// one filesystem); when both readings qualify, the one that exists wins.
func (h *Handler) renameSource(q *req, c *storage.Container) (renameRef, error) {
	raw := q.r.Header.Get("x-ms-rename-source")
	p, query, _ := strings.Cut(raw, "?")
	dec, err := url.PathUnescape(p)
	if err != nil {
		return renameRef{}, errInvalidHeader("x-ms-rename-source", raw, "not a percent-encoded /<filesystem>/<path>")
	}
	dec = strings.TrimPrefix(dec, "/")
	split := func(s string) renameRef {
		fs, path, _ := strings.Cut(s, "/")
		return renameRef{container: fs, path: strings.Trim(path, "/"), query: query}
	}
	cands := []renameRef{split(dec)}
	if first, rest, ok := strings.Cut(dec, "/"); ok && first == q.account.Name && hostStyleAccount(q.r.Host) == "" {
		cands = append(cands, split(rest))
	}
	var pick []renameRef
	for _, r := range cands {
		if r.container == q.container && r.path != "" {
			pick = append(pick, r)
		}
	}
	var src renameRef
	switch {
	case len(pick) == 0:
		src = cands[len(cands)-1]
	case len(pick) == 1 || c == nil:
		src = pick[0]
	default:
		src = pick[0]
		if _, err := getBlob(q.r.Context(), h.st, c, pick[0].path); errors.Is(err, store.ErrNotFound) {
			src = pick[1]
		}
	}
	if src.container == "" || src.path == "" {
		return renameRef{}, errInvalidHeader("x-ms-rename-source", raw, "the rename source must be /<filesystem>/<path>")
	}
	if err := checkHNSName(src.path, true); err != nil {
		return renameRef{}, err
	}
	return src, nil
}

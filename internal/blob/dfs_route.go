package blob

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/amlid/amlid/internal/access/catalog"
)

// The DFS (ADLS Gen2) REST API shares the blob listener. On Azure it has its
// own host (<account>.dfs.core.windows.net), and the clients (azdatalake,
// azure-storage-file-datalake) derive the blob URL from the DFS one by
// replacing ".dfs." with ".blob.": with amlid's path-style IP URLs both are
// the same URL, so one listener must tell the two APIs apart by the request
// itself. DFS requests are the ones with a resource= or action= query, a
// rename source, or a DELETE with recursive=; everything else is a
// Blob request (reads of DFS files go through the Blob API in both clients).

// RBAC data actions used by the DFS API besides the blob ones.
const (
	ActionBlobMove          = catalog.BlobMove
	ActionModifyPermissions = catalog.BlobOwnership
	ActionManageOwnership   = catalog.BlobSuperuser
)

// isDFSRequest reports whether r is a DFS REST request.
func isDFSRequest(r *http.Request) bool {
	if r.Header.Get("x-ms-rename-source") != "" {
		return true
	}
	q := r.URL.Query()
	if q.Has("resource") || q.Has("action") {
		return true
	}
	return r.Method == http.MethodDelete && q.Has("recursive")
}

// aclNeed is what POSIX ACLs must grant an operation when RBAC did not
// (rule DS-9).
type aclNeed int

const (
	needNone     aclNeed = iota
	needRead             // --x on the parents, r-- on the target
	needWrite            // --x on the parents; w on the target, or -wx on the parent to create it
	needCreate           // --x on the parents, -wx on the parent
	needDelete           // --x on the parents, -wx on the parent, sticky bit
	needList             // --x on the parents, r-x on the directory
	needTraverse         // --x on the parents
	needOwner            // --x on the parents; the caller owns the target
	needRename           // needDelete on the source, needCreate on the destination
)

// blobACLNeed maps Blob API operations on HNS accounts to ACL needs.
func blobACLNeed(name string) aclNeed {
	switch name {
	case "GetBlob", "GetBlobProperties", "GetBlobMetadata", "GetBlockList":
		return needRead
	case "PutBlob", "PutBlock", "PutBlockList", "CopyBlob", "SetBlobMetadata", "SetBlobProperties", "SetBlobTier":
		return needWrite
	case "DeleteBlob":
		return needDelete
	case "ListBlobs":
		return needList
	}
	return needNone
}

// dfsOp builds a DFS operation.
func dfsOp(name string, lv level, action string, data bool, perms string, need aclNeed, run func(*Handler, *req) error) *operation {
	return &operation{name: name, level: lv, action: action, data: data, perms: perms, serviceSAS: true, acl: need, run: run}
}

// routeDFS picks the DFS operation.
func (h *Handler) routeDFS(q *req) (*operation, error) {
	m := q.r.Method
	resource := q.query("resource")
	action := q.query("action")
	if q.container == "" {
		if m == http.MethodGet && resource == "account" {
			op := dfsOp("ListFilesystems", levelService, ActionContainerRd, false, "l", needNone, (*Handler).listFilesystems)
			op.serviceSAS = false
			return op, nil
		}
		return nil, errorf(http.StatusBadRequest, "InvalidUri", "The requested URI does not represent any resource on the server.").
			with("Reason", "account-level DFS requests are GET ?resource=account (list filesystems)")
	}
	if q.blob == "" && resource == "filesystem" {
		switch m {
		case http.MethodPut:
			return &operation{name: "CreateFilesystem", level: levelContainer, action: ActionContainerWr, perms: "cw", run: (*Handler).createFilesystem}, nil
		case http.MethodDelete:
			return &operation{name: "DeleteFilesystem", level: levelContainer, action: ActionContainerDel, perms: "d", run: (*Handler).deleteFilesystem}, nil
		case http.MethodHead:
			return &operation{name: "GetFilesystemProperties", level: levelContainer, action: ActionContainerRd, perms: "r", run: (*Handler).getFilesystemProperties}, nil
		case http.MethodGet:
			op := dfsOp("ListPaths", levelContainer, ActionBlobRead, true, "l", needList, (*Handler).listPaths)
			return op, nil
		}
		return nil, q.badOp()
	}
	if !q.account.IsHnsEnabled {
		return nil, errorf(http.StatusConflict, "HierarchicalNamespaceNotEnabled",
			"This operation is only supported on a hierarchical namespace account.").
			with("Reason", "storage account '"+q.account.Name+"' was created without a hierarchical namespace; create one with: amlid storage account create -n <name> -g <group> --enable-hierarchical-namespace true")
	}
	switch {
	case m == http.MethodPut && q.r.Header.Get("x-ms-rename-source") != "":
		return dfsOp("RenamePath", levelBlob, ActionBlobMove, true, "mw", needRename, (*Handler).renamePath), nil
	case m == http.MethodPut && (resource == "file" || resource == "directory"):
		op := dfsOp("CreatePath", levelBlob, ActionBlobWrite, true, "cw", needCreate, (*Handler).createPath)
		op.alt, op.create = ActionBlobAdd, "c"
		return op, nil
	case m == http.MethodPatch && action == "append":
		return dfsOp("AppendData", levelBlob, ActionBlobWrite, true, "aw", needWrite, (*Handler).appendData), nil
	case m == http.MethodPatch && action == "flush":
		return dfsOp("FlushData", levelBlob, ActionBlobWrite, true, "w", needWrite, (*Handler).flushData), nil
	case m == http.MethodPatch && action == "setAccessControl":
		return dfsOp("SetAccessControl", levelBlob, ActionModifyPermissions, true, "po", needOwner, (*Handler).setAccessControl), nil
	case m == http.MethodPatch && action == "setAccessControlRecursive":
		return dfsOp("SetAccessControlRecursive", levelBlob, ActionModifyPermissions, true, "p", needTraverse, (*Handler).setAccessControlRecursive), nil
	case m == http.MethodPatch && action == "setProperties":
		return dfsOp("SetPathProperties", levelBlob, ActionBlobWrite, true, "w", needWrite, (*Handler).setPathProperties), nil
	case (m == http.MethodHead || m == http.MethodGet) && (action == "getAccessControl" || action == "getStatus"):
		return dfsOp("GetPathStatus", levelBlob, ActionBlobRead, true, "re", needTraverse, (*Handler).getPathStatus), nil
	case m == http.MethodDelete:
		return dfsOp("DeletePath", levelBlob, ActionBlobDelete, true, "d", needDelete, (*Handler).deletePath), nil
	}
	if action != "" {
		return nil, errInvalidQuery("action", action, "amlid's DFS API implements append, flush, setAccessControl, setAccessControlRecursive, setProperties, getAccessControl and getStatus")
	}
	return nil, q.badOp()
}

// writeDFSError writes e as the DFS API does: JSON
// {"error":{"code","message"}} and x-ms-error-code; details are appended
// to the message.
func writeDFSError(w http.ResponseWriter, r *http.Request, requestID string, now time.Time, e *Error) {
	if writeErrorHeaders(w, r, e) {
		return
	}
	msg := e.Message
	for _, d := range e.Detail {
		msg += "\n" + d[0] + ": " + d[1]
	}
	msg += "\nRequestId:" + requestID + "\nTime:" + now.UTC().Format(timeFormatError)
	b, _ := json.Marshal(map[string]any{"error": map[string]string{"code": e.Code, "message": msg}})
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=utf-8")
	h.Set("Content-Length", fmt.Sprint(len(b)))
	w.WriteHeader(e.Status)
	_, _ = w.Write(b)
}

// dfsPathOf is the path a DFS error names: /<filesystem>/<path>.
func (q *req) dfsPathOf(p string) string {
	return "/" + q.container + "/" + strings.TrimPrefix(p, "/")
}

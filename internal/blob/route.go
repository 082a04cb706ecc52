package blob

import (
	"net/http"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
)

// level is what a request addresses.
type level int

const (
	levelService level = iota
	levelContainer
	levelBlob
)

// RBAC action names of the Blob service.
const (
	ActionBlobRead     = catalog.BlobRead
	ActionBlobWrite    = catalog.BlobWrite
	ActionBlobDelete   = catalog.BlobDelete
	ActionBlobAdd      = catalog.BlobAdd
	ActionContainerRd  = catalog.ContainerRead
	ActionContainerWr  = catalog.ContainerWrite
	ActionContainerDel = catalog.ContainerDel
	ActionGetACL       = catalog.ContainerGetACL
	ActionSetACL       = catalog.ContainerSetACL
	ActionServiceRead  = catalog.BlobServiceRead
	ActionServiceWrite = catalog.BlobServiceWrite
)

// Anonymous access needed by an operation.
const (
	anonNone      = 0
	anonBlob      = 1 // container level Blob or Container
	anonContainer = 2 // container level Container
)

// operation is one REST operation with what it needs to be authorized.
type operation struct {
	name  string
	level level
	// RBAC: action and whether it is a data action; alt is a data action
	// that grants creating (not overwriting) a blob.
	action string
	data   bool
	alt    string
	// SAS: any of perms grants the operation; any of create grants creating
	// a new blob only.
	perms, create string
	// serviceSAS: a service SAS (sr=c or b) may authorize it.
	serviceSAS bool
	anon       int
	// acl is what POSIX ACLs must grant on an HNS account when RBAC does
	// not (DFS operations; Blob ones map through blobACLNeed).
	acl aclNeed
	run func(h *Handler, q *req) error
}

func (q *req) badOp() error {
	comp := q.query("comp")
	if comp != "" {
		return errInvalidQuery("comp", comp, "amlid does not implement this operation for "+q.r.Method+" (supported: block blobs, containers, listing, metadata, properties, ACLs, copy)")
	}
	return errorf(http.StatusBadRequest, "UnsupportedHttpVerb", "The resource doesn't support specified Http Verb.")
}

// route picks the operation from method, level, restype and comp.
func (h *Handler) route(q *req) (*operation, error) {
	m := q.r.Method
	if m == http.MethodHead {
		m = http.MethodGet
	}
	restype, comp := strings.ToLower(q.query("restype")), strings.ToLower(q.query("comp"))
	if restype == "account" && comp == "properties" && m == http.MethodGet {
		lv := levelService
		switch {
		case q.blob != "":
			lv = levelBlob
		case q.container != "":
			lv = levelContainer
		}
		return &operation{name: "GetAccountInformation", level: lv, action: ActionContainerRd, perms: "rwdlacup", serviceSAS: true, run: (*Handler).getAccountInfo}, nil
	}
	switch {
	case q.container == "":
		switch {
		case m == http.MethodGet && comp == "list":
			return &operation{name: "ListContainers", action: ActionContainerRd, perms: "l", run: (*Handler).listContainers}, nil
		case restype == "service" && comp == "properties" && m == http.MethodGet:
			return &operation{name: "GetBlobServiceProperties", action: ActionServiceRead, perms: "r", run: (*Handler).getServiceProperties}, nil
		case restype == "service" && comp == "properties" && m == http.MethodPut:
			return &operation{name: "SetBlobServiceProperties", action: ActionServiceWrite, perms: "w", run: (*Handler).setServiceProperties}, nil
		case restype == "service" && comp == "stats" && m == http.MethodGet:
			return &operation{name: "GetBlobServiceStats", action: ActionServiceRead, perms: "r", run: (*Handler).getServiceStats}, nil
		}
		return nil, q.badOp()
	case q.blob == "":
		if restype != "container" && comp != "list" {
			return nil, errorf(http.StatusBadRequest, "InvalidUri", "The requested URI does not represent any resource on the server.").
				with("Reason", "container operations need ?restype=container")
		}
		op := &operation{level: levelContainer}
		switch {
		case m == http.MethodPut && comp == "":
			*op = operation{name: "CreateContainer", level: levelContainer, action: ActionContainerWr, perms: "cw", run: (*Handler).createContainer}
		case m == http.MethodGet && comp == "":
			*op = operation{name: "GetContainerProperties", level: levelContainer, action: ActionContainerRd, perms: "r", anon: anonContainer, run: (*Handler).getContainerProperties}
		case m == http.MethodDelete && comp == "":
			*op = operation{name: "DeleteContainer", level: levelContainer, action: ActionContainerDel, perms: "d", run: (*Handler).deleteContainer}
		case m == http.MethodGet && comp == "metadata":
			*op = operation{name: "GetContainerMetadata", level: levelContainer, action: ActionContainerRd, perms: "r", anon: anonContainer, run: (*Handler).getContainerProperties}
		case m == http.MethodPut && comp == "metadata":
			*op = operation{name: "SetContainerMetadata", level: levelContainer, action: ActionContainerWr, perms: "w", run: (*Handler).setContainerMetadata}
		case m == http.MethodGet && comp == "acl":
			*op = operation{name: "GetContainerACL", level: levelContainer, action: ActionGetACL, perms: "r", run: (*Handler).getContainerACL}
		case m == http.MethodPut && comp == "acl":
			*op = operation{name: "SetContainerACL", level: levelContainer, action: ActionSetACL, perms: "w", run: (*Handler).setContainerACL}
		case m == http.MethodGet && comp == "list":
			*op = operation{name: "ListBlobs", level: levelContainer, action: ActionBlobRead, data: true, perms: "l", serviceSAS: true, anon: anonContainer, run: (*Handler).listBlobs}
		default:
			return nil, q.badOp()
		}
		return op, nil
	}
	switch {
	case m == http.MethodPut && comp == "" && q.r.Header.Get("x-ms-copy-source") != "":
		return &operation{name: "CopyBlob", level: levelBlob, action: ActionBlobWrite, data: true, alt: ActionBlobAdd, perms: "w", create: "c", serviceSAS: true, run: (*Handler).copyBlob}, nil
	case m == http.MethodPut && comp == "":
		return &operation{name: "PutBlob", level: levelBlob, action: ActionBlobWrite, data: true, alt: ActionBlobAdd, perms: "w", create: "c", serviceSAS: true, run: (*Handler).putBlob}, nil
	case m == http.MethodPut && comp == "block":
		return &operation{name: "PutBlock", level: levelBlob, action: ActionBlobWrite, data: true, alt: ActionBlobAdd, perms: "w", create: "c", serviceSAS: true, run: (*Handler).putBlock}, nil
	case m == http.MethodPut && comp == "blocklist":
		return &operation{name: "PutBlockList", level: levelBlob, action: ActionBlobWrite, data: true, alt: ActionBlobAdd, perms: "w", create: "c", serviceSAS: true, run: (*Handler).putBlockList}, nil
	case m == http.MethodGet && comp == "blocklist":
		return &operation{name: "GetBlockList", level: levelBlob, action: ActionBlobRead, data: true, perms: "r", serviceSAS: true, run: (*Handler).getBlockList}, nil
	case m == http.MethodGet && comp == "":
		name := "GetBlob"
		if q.r.Method == http.MethodHead {
			name = "GetBlobProperties"
		}
		return &operation{name: name, level: levelBlob, action: ActionBlobRead, data: true, perms: "r", serviceSAS: true, anon: anonBlob, run: (*Handler).getBlob}, nil
	case m == http.MethodGet && comp == "metadata":
		return &operation{name: "GetBlobMetadata", level: levelBlob, action: ActionBlobRead, data: true, perms: "r", serviceSAS: true, anon: anonBlob, run: (*Handler).getBlobMetadata}, nil
	case m == http.MethodPut && comp == "metadata":
		return &operation{name: "SetBlobMetadata", level: levelBlob, action: ActionBlobWrite, data: true, perms: "w", serviceSAS: true, run: (*Handler).setBlobMetadata}, nil
	case m == http.MethodPut && comp == "properties":
		return &operation{name: "SetBlobProperties", level: levelBlob, action: ActionBlobWrite, data: true, perms: "w", serviceSAS: true, run: (*Handler).setBlobProperties}, nil
	case m == http.MethodPut && comp == "tier":
		return &operation{name: "SetBlobTier", level: levelBlob, action: ActionBlobWrite, data: true, perms: "w", serviceSAS: true, run: (*Handler).setBlobTier}, nil
	case m == http.MethodPut && comp == "copy":
		return &operation{name: "AbortCopyBlob", level: levelBlob, action: ActionBlobWrite, data: true, perms: "w", serviceSAS: true, run: (*Handler).abortCopy}, nil
	case m == http.MethodDelete && comp == "":
		return &operation{name: "DeleteBlob", level: levelBlob, action: ActionBlobDelete, data: true, perms: "d", serviceSAS: true, run: (*Handler).deleteBlob}, nil
	}
	return nil, q.badOp()
}

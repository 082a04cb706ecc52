package access

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/amlid/amlid/internal/access/catalog"
	"github.com/amlid/amlid/internal/arm"
)

// Job rules (issue 20): which identity reads each of a job's inputs (DS-5)
// and what that identity needs.

func init() {
	Rules = append(Rules, Rule{ID: "DS-5", Type: catalog.TypeJob, Eval: DS5,
		Summary: "a job's inputs are read with the datastore's cached credentials (fetched from the workspace key vault by the compute's identity), else the job's identity (the submitting user, or the compute's), else the compute's identity: that identity needs Storage Blob Data Reader on the storage"})
}

var datastoreURI = regexp.MustCompile(`^azureml://(?:subscriptions/[^/]+/resource[gG]roups/[^/]+/workspaces/[^/]+/)?datastores/([^/]+)/paths/`)

// DS5 is rule DS-5 for a job: for each input in a datastore, the identity
// that will read it and what it needs.
func DS5(ctx context.Context, src Source, job *arm.Resource) (Result, error) {
	var res Result
	if strings.EqualFold(job.StringProp("jobType"), "Pipeline") {
		return res, nil // its steps: DS-6
	}
	wsID, err := parentID(job.ID)
	if err != nil {
		return res, err
	}
	compID := job.StringProp("computeId")
	comp, err := src.Get(ctx, compID)
	if err != nil {
		return res, fmt.Errorf("rule DS-5: the job's compute %s was not found", compID)
	}
	idm, _ := job.Prop("identity").(map[string]any)
	idType, _ := idm["identityType"].(string)
	var reader Identity
	var readerOK bool
	if strings.EqualFold(idType, "UserIdentity") {
		sub, _ := job.Prop("amlidSubmittedBy").(map[string]any)
		oid, _ := sub["objectId"].(string)
		tid, _ := sub["tenantId"].(string)
		if oid == "" {
			res.Notes = append(res.Notes, "The job uses user identity but records no submitter.")
		} else {
			reader, readerOK = Identity{Kind: "User", PrincipalID: oid, TenantID: tid, Of: job.ID}, true
		}
	} else if reader, readerOK = Acting(comp); !readerOK {
		res.Notes = append(res.Notes, fmt.Sprintf("Compute %s has no managed identity: DS-5 falls back to it for the job's data (give it one: rule CMP-1).", comp.Name))
	}
	ins, _ := job.Prop("inputs").(map[string]any)
	names := make([]string, 0, len(ins))
	for n := range ins {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, name := range names {
		in, _ := ins[name].(map[string]any)
		uri, _ := in["uri"].(string)
		m := datastoreURI.FindStringSubmatch(uri)
		if m == nil {
			continue
		}
		ds, err := src.Get(ctx, wsID+"/datastores/"+m[1])
		if errors.Is(err, ErrNotFound) {
			res.Notes = append(res.Notes, fmt.Sprintf("Input %s names datastore %s, which the workspace does not have.", name, m[1]))
			continue
		}
		if err != nil {
			return res, err
		}
		// DS-8: the input is read from the compute's nodes, so a firewall
		// that denies by default must let the compute's network through.
		netID, netOK := reader, readerOK
		if !netOK {
			netID, netOK = Acting(comp)
		}
		if netOK {
			q, err := SubnetRequirement(ctx, src, job.ID, netID, comp, DatastoreAccountID(ds),
				fmt.Sprintf("input %s (%s) is read from compute %s's nodes, behind the storage account's firewall", name, uri, comp.Name))
			if err != nil {
				return res, err
			}
			if q != nil {
				res.Requirements = append(res.Requirements, *q)
			}
		}
		creds, _ := ds.Prop("credentials").(map[string]any)
		if ct, _ := creds["credentialsType"].(string); ct != "" && !strings.EqualFold(ct, "None") {
			// Cached credentials, fetched from the workspace vault by the
			// compute's identity.
			ws, err := src.Get(ctx, wsID)
			if err != nil {
				return res, err
			}
			vault := ws.StringProp("keyVault")
			cid, ok := Acting(comp)
			if vault == "" || !ok {
				continue
			}
			if cid.TenantID == "" {
				cid.TenantID = ws.StringProp("tenantId")
			}
			why := fmt.Sprintf("input %s is read with datastore %s's cached %s credentials, which the compute fetches from the workspace key vault", name, ds.Name, ct)
			v, err := src.Get(ctx, vault)
			switch {
			case err != nil:
				return res, err
			case v.Prop("enableRbacAuthorization") == true:
				res.Requirements = append(res.Requirements, rbacReq("DS-5", job.ID, cid, catalog.KeyVaultSecretsUser, catalog.SecretGet, true, vault, why))
			default:
				res.Requirements = append(res.Requirements, Requirement{Rule: "DS-5", Resource: job.ID, Identity: cid, Kind: KindPolicy, Scope: vault,
					SecretPermissions: []string{"get"}, Why: why})
			}
			continue
		}
		acct := DatastoreAccountID(ds)
		if acct == "" || !readerOK {
			continue
		}
		who := "the compute's identity"
		if reader.Kind == "User" {
			who = "the submitting user (user_identity)"
		}
		if reader.TenantID == "" {
			reader.TenantID = comp.StringProp("tenantId")
		}
		res.Requirements = append(res.Requirements, rbacReq("DS-5", job.ID, reader, catalog.StorageBlobDataReader, catalog.BlobRead, true, acct,
			fmt.Sprintf("input %s (%s) is read as %s", name, uri, who)))
	}
	return res, nil
}

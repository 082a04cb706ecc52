package job

// What a job leaves in its workspace's storage when it ends, where Azure's
// runtime leaves it and where ml_client.jobs.download (azure-ai-ml 1.4.0)
// looks for it:
//
//   - its logs in the workspaceartifactstore datastore under
//     ExperimentRun/dcid.<job>/ (user_logs/std_log.txt): the SDK's "default"
//     artifacts, downloaded to <path>/artifacts/;
//   - each named output that has no path of its own in the default
//     datastore under azureml/<job>/<output>/, as Azure's default output
//     location: downloaded to <path>/named-outputs/<output>/. The job's
//     outputs then show that URI.
//
// The service writes them as the workspace's identity, which holds Storage
// Blob Data Contributor on the workspace's storage account from the
// workspace's creation; they are the job's own logs and results, so no job
// identity (DS-5) is involved. Outputs with a path are uploaded by the job's
// data identity as before (data.go, uploadOutput).

import (
	"context"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/container"
	"github.com/amlid/amlid/internal/access"
	"github.com/amlid/amlid/internal/arm"
	"github.com/amlid/amlid/internal/ml"
	"github.com/amlid/amlid/internal/ml/datastore"
	"github.com/amlid/amlid/internal/ml/mlblob"
)

// artifactStore is the system datastore that keeps run logs.
const artifactStore = "workspaceartifactstore"

// logsPrefix is where a job's logs go in workspaceartifactstore.
func logsPrefix(job string) string { return "ExperimentRun/dcid." + job + "/" }

// defaultOutputPath is where a named output without a path goes in the
// default datastore.
func defaultOutputPath(job, output string) string { return "azureml/" + job + "/" + output + "/" }

// datastoreClient is a container client on a workspace blob datastore, as
// the workspace's identity.
func (p *Provider) datastoreClient(ctx context.Context, ws *arm.Resource, name string) (*container.Client, error) {
	ds, err := ml.LoadResource(ctx, p.Store, ws.ID+"/datastores/"+name)
	if err != nil {
		return nil, fmt.Errorf("the workspace has no datastore %s", name)
	}
	account, cont := ds.StringProp("accountName"), ds.StringProp("containerName")
	if account == "" || cont == "" {
		return nil, fmt.Errorf("datastore %s is not a blob container", name)
	}
	id, ok, err := access.WorkspaceIdentity(ctx, access.StoreSource(p.Store), ws)
	if err != nil || !ok {
		return nil, fmt.Errorf("workspace %s has no identity to write datastore %s with", ws.Name, name)
	}
	pr, err := p.Directory.Principal(ctx, id.PrincipalID)
	if err != nil {
		return nil, err
	}
	tok, err := p.Tokens.IssueAccessToken(ctx, pr, "https://storage.azure.com/")
	if err != nil {
		return nil, err
	}
	return container.NewClient(strings.TrimRight(p.BlobEndpoint(account), "/")+"/"+cont, mlblob.StaticToken(tok.Token), p.clientOptions())
}

// uploadTree uploads every regular file under local to prefix and returns
// how many it wrote.
func uploadTree(ctx context.Context, cc *container.Client, local, prefix string) (int, error) {
	n := 0
	err := filepath.WalkDir(local, func(f string, d os.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		rel, _ := filepath.Rel(local, f)
		fh, err := os.Open(f)
		if err != nil {
			return err
		}
		defer fh.Close()
		if _, err := cc.NewBlockBlobClient(path.Join(prefix, filepath.ToSlash(rel))).UploadFile(ctx, fh, nil); err != nil {
			return err
		}
		n++
		return nil
	})
	return n, err
}

// publishLogs copies the job's user_logs to workspaceartifactstore. It runs
// before the final status is recorded, so a client that sees the job ended
// finds its logs. A failure is logged, never fails the job.
func (p *Provider) publishLogs(ctx context.Context, jobID string) {
	r, err := ml.LoadResource(ctx, p.Store, jobID)
	if err != nil {
		return
	}
	ws, err := ml.LoadResource(ctx, p.Store, mustParent(jobID))
	if err != nil {
		return
	}
	dir := filepath.Join(p.jobDir(jobID), "user_logs")
	if _, err := os.Stat(dir); err != nil {
		return
	}
	cc, err := p.datastoreClient(ctx, ws, artifactStore)
	if err == nil {
		_, err = uploadTree(ctx, cc, dir, logsPrefix(r.Name)+"user_logs")
	}
	if err != nil {
		p.Log().Warn("job logs were not stored in the artifact store", "job", jobID, "err", err)
	}
}

// publishOutput stores a named output without a path in the default
// datastore (azureml/<job>/<output>/) and returns its azureml:// URI ("" when
// the output folder is empty).
func (p *Provider) publishOutput(ctx context.Context, ws *arm.Resource, job, output, local string) (string, int, error) {
	if !ioName.MatchString(output) {
		return "", 0, fmt.Errorf("the output name %q is not letters, digits, '_' and '-'", output)
	}
	cc, err := p.datastoreClient(ctx, ws, datastore.DefaultDatastore)
	if err != nil {
		return "", 0, err
	}
	prefix := defaultOutputPath(job, output)
	n, err := uploadTree(ctx, cc, local, strings.TrimSuffix(prefix, "/"))
	if err != nil || n == 0 {
		return "", n, err
	}
	return "azureml://datastores/" + datastore.DefaultDatastore + "/paths/" + prefix, n, nil
}

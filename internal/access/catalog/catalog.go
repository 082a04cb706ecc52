// Package catalog is the one place amlid names Azure's built-in roles and the
// action and data-action strings of the services it serves. Every other
// package refers to these names; none spells a role GUID or a data action
// itself (issue 14: one place for each piece of knowledge).
//
// It imports nothing, so the pure RBAC engine, the data planes, the CLI and
// the access rules can all use it.
package catalog

import "strings"

// Role is a built-in role: Azure's GUID and display name (rule RBAC-1).
type Role struct {
	ID   string // the role definition's GUID (its ARM name)
	Name string // roleName, as az and the portal show it
}

func (r Role) String() string { return r.Name }

// Built-in roles amlid ships (builtin-roles.json), with Azure's GUIDs.
var (
	Owner                      = Role{"8e3af657-a8ff-443c-a75c-2fe8c4bcb635", "Owner"}
	Contributor                = Role{"b24988ac-6180-42a0-ab88-20f7382dd24c", "Contributor"}
	Reader                     = Role{"acdd72a7-3385-48ef-bd42-f606fba81ae7", "Reader"}
	UserAccessAdministrator    = Role{"18d7d88d-d35e-4fb5-a5c3-7773c20a72d9", "User Access Administrator"}
	AcrPull                    = Role{"7f951dda-4ed3-4680-a7ca-43fe172d538d", "AcrPull"}
	AcrPush                    = Role{"8311e382-0749-4cb8-b61a-304f252e45ec", "AcrPush"}
	StorageBlobDataReader      = Role{"2a2b9908-6ea1-4ae2-8e65-a410df84e7d1", "Storage Blob Data Reader"}
	StorageBlobDataContributor = Role{"ba92f5b4-2d11-453d-a403-e96b0029c9fe", "Storage Blob Data Contributor"}
	StorageBlobDataOwner       = Role{"b7e6dc6d-f1e8-4753-8033-0f276bb0955b", "Storage Blob Data Owner"}
	StorageAccountContributor  = Role{"17d1049b-9a84-46fb-8f53-869881c3d3ab", "Storage Account Contributor"}
	KeyVaultAdministrator      = Role{"00482a5a-887f-4fb3-b363-3b7fe8e74483", "Key Vault Administrator"}
	KeyVaultSecretsOfficer     = Role{"b86a8fe4-44ce-4948-aee5-eccb2c155cd7", "Key Vault Secrets Officer"}
	KeyVaultSecretsUser        = Role{"4633458b-17de-408a-b874-0445c86b69e6", "Key Vault Secrets User"}
	ManagedIdentityOperator    = Role{"f1a07417-d97a-45cb-824c-7a7467783830", "Managed Identity Operator"}
	AzureMLDataScientist       = Role{"f6c7c914-8db3-469d-8ca1-694a8f32e121", "AzureML Data Scientist"}
	AzureMLComputeOperator     = Role{"e503ece1-11d0-4e8e-8e2c-7a6c3bf38815", "AzureML Compute Operator"}
)

// BuiltinRoles lists every built-in role above.
func BuiltinRoles() []Role {
	return []Role{Owner, Contributor, Reader, UserAccessAdministrator, AcrPull, AcrPush,
		StorageBlobDataReader, StorageBlobDataContributor, StorageBlobDataOwner, StorageAccountContributor,
		KeyVaultAdministrator, KeyVaultSecretsOfficer, KeyVaultSecretsUser, ManagedIdentityOperator,
		AzureMLDataScientist, AzureMLComputeOperator}
}

// RoleByName finds a built-in role by its display name (case-insensitive).
func RoleByName(name string) (Role, bool) {
	for _, r := range BuiltinRoles() {
		if strings.EqualFold(r.Name, name) {
			return r, true
		}
	}
	return Role{}, false
}

// RoleByID finds a built-in role by GUID or by a role definition resource ID
// ending in it.
func RoleByID(id string) (Role, bool) {
	if i := strings.LastIndex(id, "/"); i >= 0 {
		id = id[i+1:]
	}
	for _, r := range BuiltinRoles() {
		if strings.EqualFold(r.ID, id) {
			return r, true
		}
	}
	return Role{}, false
}

// Blob service (Microsoft.Storage) actions and data actions.
const (
	blobServices = "Microsoft.Storage/storageAccounts/blobServices/"

	BlobRead         = blobServices + "containers/blobs/read"                     // data action
	BlobWrite        = blobServices + "containers/blobs/write"                    // data action
	BlobDelete       = blobServices + "containers/blobs/delete"                   // data action
	BlobAdd          = blobServices + "containers/blobs/add/action"               // data action
	BlobMove         = blobServices + "containers/blobs/move/action"              // data action (ADLS Gen2 rename)
	BlobOwnership    = blobServices + "containers/blobs/modifyPermissions/action" // data action (ADLS Gen2 ACLs)
	BlobSuperuser    = blobServices + "containers/blobs/manageOwnership/action"   // data action (ADLS Gen2 owner)
	ContainerRead    = blobServices + "containers/read"
	ContainerWrite   = blobServices + "containers/write"
	ContainerDel     = blobServices + "containers/delete"
	ContainerGetACL  = blobServices + "containers/getAcl/action"
	ContainerSetACL  = blobServices + "containers/setAcl/action"
	BlobServiceRead  = blobServices + "read"
	BlobServiceWrite = blobServices + "write"

	StorageAccountWrite    = "Microsoft.Storage/storageAccounts/write"
	StorageAccountListKeys = "Microsoft.Storage/storageAccounts/listKeys/action"
)

// Key Vault data actions (secrets, and the key action WS-5 checks).
const (
	kvSecrets = "Microsoft.KeyVault/vaults/secrets/"

	SecretGet      = kvSecrets + "getSecret/action"
	SecretMetadata = kvSecrets + "readMetadata/action"
	SecretSet      = kvSecrets + "setSecret/action"
	SecretUpdate   = kvSecrets + "update/action"
	SecretDelete   = kvSecrets + "delete"
	SecretRecover  = kvSecrets + "recover/action"
	SecretPurge    = kvSecrets + "purge/action"
	SecretBackup   = kvSecrets + "backup/action"
	SecretRestore  = kvSecrets + "restore/action"
	KeyCreate      = "Microsoft.KeyVault/vaults/keys/create/action"

	VaultWrite = "Microsoft.KeyVault/vaults/write"
)

// Key Vault access-policy secret permissions (the access-policy model).
var SecretPermissions = []string{"get", "list", "set", "delete", "backup", "restore", "recover", "purge"}

// Container registry actions (AcrPull/AcrPush hold them as actions).
const (
	RegistryPull            = "Microsoft.ContainerRegistry/registries/pull/read"
	RegistryPush            = "Microsoft.ContainerRegistry/registries/push/write"
	RegistryArtifactDelete  = "Microsoft.ContainerRegistry/registries/artifacts/delete"
	RegistryListCredentials = "Microsoft.ContainerRegistry/registries/listCredentials/action"
	RegistryWrite           = "Microsoft.ContainerRegistry/registries/write"
)

// Machine Learning, Insights and Managed Identity actions.
const (
	WorkspaceWrite       = "Microsoft.MachineLearningServices/workspaces/write"
	EndpointScore        = "Microsoft.MachineLearningServices/workspaces/onlineEndpoints/score/action"
	ComputeStop          = "Microsoft.MachineLearningServices/workspaces/computes/stop/action"
	ComputeStart         = "Microsoft.MachineLearningServices/workspaces/computes/start/action"
	ComputeRestart       = "Microsoft.MachineLearningServices/workspaces/computes/restart/action"
	ComputeWrite         = "Microsoft.MachineLearningServices/workspaces/computes/write"
	DatastoreListSecret  = "Microsoft.MachineLearningServices/workspaces/datastores/listSecrets/action"
	DataVersionRead      = "Microsoft.MachineLearningServices/workspaces/data/versions/read"
	JobRead              = "Microsoft.MachineLearningServices/workspaces/jobs/read"
	ConnectionListSecret = "Microsoft.MachineLearningServices/workspaces/connections/listsecrets/action"
	InsightsWrite        = "Microsoft.Insights/components/write"
	UAIAssign            = "Microsoft.ManagedIdentity/userAssignedIdentities/*/assign/action"
	RoleAssignmentWrite  = "Microsoft.Authorization/roleAssignments/write"
)

// WriteAction is the ARM write action of a resource type ("<type>/write").
func WriteAction(resourceType string) string { return resourceType + "/write" }

// Resource types the access rules read.
const (
	TypeWorkspace      = "Microsoft.MachineLearningServices/workspaces"
	TypeOnlineEndpoint = TypeWorkspace + "/onlineEndpoints"
	TypeDatastore      = TypeWorkspace + "/datastores"
	TypeDataContainer  = TypeWorkspace + "/data"
	TypeDataVersion    = TypeDataContainer + "/versions"
	TypeDeployment     = TypeOnlineEndpoint + "/deployments"
	TypeCompute        = TypeWorkspace + "/computes"
	TypeConnection     = TypeWorkspace + "/connections"
	TypeEnvironment    = TypeWorkspace + "/environments"
	TypeEnvVersion     = TypeEnvironment + "/versions"
	TypeStorageAccount = "Microsoft.Storage/storageAccounts"
	TypeVault          = "Microsoft.KeyVault/vaults"
	TypeRegistry       = "Microsoft.ContainerRegistry/registries"
	TypeInsights       = "Microsoft.Insights/components"
	TypeUserAssignedMI = "Microsoft.ManagedIdentity/userAssignedIdentities"
)

// Jobs.
const TypeJob = TypeWorkspace + "/jobs"

// Read actions the web page checks to decide what a signed-in principal
// may see (issue 22).
const (
	SubscriptionRead   = "Microsoft.Resources/subscriptions/read"
	ResourceGroupRead  = "Microsoft.Resources/subscriptions/resourceGroups/read"
	RoleAssignmentRead = "Microsoft.Authorization/roleAssignments/read"
)

// ReadAction is the ARM read action of a resource type ("<type>/read").
func ReadAction(resourceType string) string { return resourceType + "/read" }

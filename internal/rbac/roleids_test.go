package rbac

// GUIDs of built-in roles, for the engine's tests (the product names them
// through internal/access/catalog).
const (
	OwnerRoleID                      = "8e3af657-a8ff-443c-a75c-2fe8c4bcb635"
	ContributorRoleID                = "b24988ac-6180-42a0-ab88-20f7382dd24c"
	ReaderRoleID                     = "acdd72a7-3385-48ef-bd42-f606fba81ae7"
	UserAccessAdministratorRoleID    = "18d7d88d-d35e-4fb5-a5c3-7773c20a72d9"
	AcrPullRoleID                    = "7f951dda-4ed3-4680-a7ca-43fe172d538d"
	AcrPushRoleID                    = "8311e382-0749-4cb8-b61a-304f252e45ec"
	StorageBlobDataReaderRoleID      = "2a2b9908-6ea1-4ae2-8e65-a410df84e7d1"
	StorageBlobDataContributorRoleID = "ba92f5b4-2d11-453d-a403-e96b0029c9fe"
	StorageBlobDataOwnerRoleID       = "b7e6dc6d-f1e8-4753-8033-0f276bb0955b"
	StorageAccountContributorRoleID  = "17d1049b-9a84-46fb-8f53-869881c3d3ab"
	KeyVaultAdministratorRoleID      = "00482a5a-887f-4fb3-b363-3b7fe8e74483"
	KeyVaultSecretsOfficerRoleID     = "b86a8fe4-44ce-4948-aee5-eccb2c155cd7"
	KeyVaultSecretsUserRoleID        = "4633458b-17de-408a-b874-0445c86b69e6"
	ManagedIdentityOperatorRoleID    = "f1a07417-d97a-45cb-824c-7a7467783830"
	AzureMLDataScientistRoleID       = "f6c7c914-8db3-469d-8ca1-694a8f32e121"
	AzureMLComputeOperatorRoleID     = "e503ece1-11d0-4e8e-8e2c-7a6c3bf38815"
)

// The token broker's resources in its resource group (main.bicep passes the names' seed).
targetScope = 'resourceGroup'

@description('toLower(uniqueString(subscription().id, environmentName, location)) from main.bicep.')
@minLength(13)
@maxLength(13)
param resourceToken string

param location string

@description('Tags of every resource (azd-env-name).')
param tags object

@description('The service name in azure.yaml: azd deploys to the Function App tagged azd-service-name with it.')
param serviceName string

param deployerPrincipalId string
param enableRedis bool
param redisSku string
param redisHighAvailability bool
param maximumInstanceCount int
param instanceMemoryMB int
param maintenanceSchedule string
param keyVaultGeneration int
param keyVaultPurgeProtection bool
param brokerConfig object

// One prefix per resource type, then the token. Lengths (prefix + 13): storage 15 of 3-24
// (lower-case letters and digits only), vault 16-19 of 3-24, the others far below their limits.
var keyVaultSuffix = keyVaultGeneration == 1 ? '' : '-${keyVaultGeneration}'
var names = {
  storage: 'st${resourceToken}'
  deploymentContainer: 'app-package-${resourceToken}'
  logAnalytics: 'log-${resourceToken}'
  applicationInsights: 'appi-${resourceToken}'
  keyVault: 'kv-${resourceToken}${keyVaultSuffix}'
  plan: 'plan-${resourceToken}'
  functionApp: 'func-${resourceToken}'
  redis: 'redis-${resourceToken}'
}

// Role definition ids are fixed by Azure.
var roles = {
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // read + write secrets: rotation writes new versions
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host leases, timer state, deployment package
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-authenticated telemetry
}

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: names.storage
  location: location
  tags: tags
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity-based access only
    defaultToOAuthAuthentication: true
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

// Flex Consumption deploys the app package into this container (azd deploy uploads it there).
resource deploymentContainer 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: names.deploymentContainer
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: names.logAnalytics
  location: location
  tags: tags
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: names.applicationInsights
  location: location
  tags: tags
  kind: 'web'
  // Local auth off: only Entra-authenticated telemetry (the app identity, Monitoring Metrics Publisher).
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id, DisableLocalAuth: true }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: names.keyVault
  location: location
  tags: tags
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    // The property accepts only true (or absence): purge protection cannot be turned off again.
    enablePurgeProtection: keyVaultPurgeProtection ? true : null
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: names.plan
  location: location
  tags: tags
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: names.functionApp
  location: location
  tags: union(tags, { 'azd-service-name': serviceName })
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}${names.deploymentContainer}'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: instanceMemoryMB }
      // Node.js 22 (Node 20 reached end of life on 2026-04-30); the code runs on Node 20.19+ too.
      runtime: { name: 'node', version: '22' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
    }
  }
}

// Azure Managed Redis (Azure Cache for Redis is retiring). NoCluster: one endpoint for a client
// that is not cluster-aware, and multi-key scripts without CROSSSLOT errors (valid up to 25 GB).
resource redis 'Microsoft.Cache/redisEnterprise@2025-07-01' = if (enableRedis) {
  name: names.redis
  location: location
  tags: tags
  sku: { name: redisSku }
  properties: {
    minimumTlsVersion: '1.2'
    highAvailability: redisHighAvailability ? 'Enabled' : 'Disabled'
    publicNetworkAccess: 'Enabled'
  }
}

resource redisDatabase 'Microsoft.Cache/redisEnterprise/databases@2025-07-01' = if (enableRedis) {
  parent: redis
  name: 'default'
  properties: {
    clientProtocol: 'Encrypted' // TLS only
    port: 10000
    clusteringPolicy: 'NoCluster'
    // Never evict: the rotation lock lives here, and every broker entry carries its own TTL.
    evictionPolicy: 'NoEviction'
    // Microsoft Entra only: no access keys to leak or rotate.
    accessKeysAuthentication: 'Disabled'
  }
}

// The app's managed identity may use the database (Entra token as password, its object id as user).
resource redisAccess 'Microsoft.Cache/redisEnterprise/databases/accessPolicyAssignments@2025-07-01' = if (enableRedis) {
  parent: redisDatabase
  name: 'brokerapp' // letters and digits only
  properties: {
    accessPolicyName: 'default'
    user: { objectId: app.identity.principalId }
  }
}

// A separate resource so that the Redis host name can be used: Redis needs the app's identity first.
resource appSettings 'Microsoft.Web/sites/config@2024-04-01' = {
  parent: app
  name: 'appsettings'
  properties: union(
    {
      AzureWebJobsStorage__accountName: storage.name
      AzureWebJobsStorage__credential: 'managedidentity'
      APPLICATIONINSIGHTS_CONNECTION_STRING: insights.properties.ConnectionString
      APPLICATIONINSIGHTS_AUTHENTICATION_STRING: 'Authorization=AAD'
      KEY_VAULT_URL: vault.properties.vaultUri
      MAINTENANCE_SCHEDULE: maintenanceSchedule
      REDIS_URL: enableRedis ? 'rediss://${redis!.properties.hostName}:10000' : ''
      REDIS_ENTRA_AUTH: enableRedis ? 'true' : 'false'
      // Partner-API rotation needs a fleet-wide lock: Redis, or a single instance.
      ALLOW_IN_PROCESS_ROTATION_LOCK: (!enableRedis && maximumInstanceCount == 1) ? 'true' : 'false'
    },
    // The configuration: in this app setting when given, else the file deployed with the code
    // (a relative path is resolved against the function app root).
    empty(brokerConfig) ? { BROKER_CONFIG: 'config/broker.config.json' } : { BROKER_CONFIG_JSON: string(brokerConfig) }
  )
  dependsOn: [redisAccess]
}

resource vaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: vault
  name: guid(vault.id, app.id, roles.keyVaultSecretsOfficer)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

// Whoever runs `azd up` writes the partner secrets (`az keyvault secret set`); without this, 403.
resource deployerVaultAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = if (!empty(deployerPrincipalId)) {
  scope: vault
  name: guid(vault.id, deployerPrincipalId, roles.keyVaultSecretsOfficer)
  properties: {
    // No principalType: the deployer may be a user or a service principal (CI).
    principalId: deployerPrincipalId
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.keyVaultSecretsOfficer)
  }
}

resource storageAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: storage
  name: guid(storage.id, app.id, roles.storageBlobDataOwner)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.storageBlobDataOwner)
  }
}

resource telemetryAccess 'Microsoft.Authorization/roleAssignments@2022-04-01' = {
  scope: insights
  name: guid(insights.id, app.id, roles.monitoringMetricsPublisher)
  properties: {
    principalId: app.identity.principalId
    principalType: 'ServicePrincipal'
    roleDefinitionId: subscriptionResourceId('Microsoft.Authorization/roleDefinitions', roles.monitoringMetricsPublisher)
  }
}

output functionAppName string = app.name
output functionAppId string = app.id
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output functionAppPrincipalId string = app.identity.principalId
output keyVaultName string = vault.name
output keyVaultUrl string = vault.properties.vaultUri
output redisHost string = enableRedis ? redis!.properties.hostName : ''
output applicationInsightsName string = insights.name
output applicationInsightsId string = insights.id
output logAnalyticsWorkspaceId string = logs.id

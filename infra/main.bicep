// Token broker: Function App (Flex Consumption, Node 20) with a system-assigned managed identity,
// Key Vault (RBAC) holding partner credentials, Application Insights, and optionally Azure Cache
// for Redis with Microsoft Entra authentication for the fleet-wide cache.
targetScope = 'resourceGroup'

@description('Short prefix for resource names (3-11 lower-case letters/digits).')
@minLength(3)
@maxLength(11)
param namePrefix string = 'tokbroker'

param location string = resourceGroup().location

@description('Turn on the shared Redis cache (recommended from two instances up).')
param enableRedis bool = false

@description('NCRONTAB schedule of the maintenance timer (pre-warm, rotation, retirement, orphan sweep).')
param maintenanceSchedule string = '0 */5 * * * *'

@description('Maximum instances the Function App may scale out to.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

var suffix = uniqueString(resourceGroup().id, namePrefix)
var storageName = take('${namePrefix}${suffix}', 24)
var vaultName = take('${namePrefix}-kv-${suffix}', 24)

resource storage 'Microsoft.Storage/storageAccounts@2023-05-01' = {
  name: storageName
  location: location
  sku: { name: 'Standard_LRS' }
  kind: 'StorageV2'
  properties: {
    minimumTlsVersion: 'TLS1_2'
    allowBlobPublicAccess: false
    allowSharedKeyAccess: false // identity-based access only
    supportsHttpsTrafficOnly: true
  }
}

resource blobService 'Microsoft.Storage/storageAccounts/blobServices@2023-05-01' = {
  parent: storage
  name: 'default'
}

resource deployments 'Microsoft.Storage/storageAccounts/blobServices/containers@2023-05-01' = {
  parent: blobService
  name: 'deployments'
}

resource logs 'Microsoft.OperationalInsights/workspaces@2023-09-01' = {
  name: '${namePrefix}-logs-${suffix}'
  location: location
  properties: { sku: { name: 'PerGB2018' }, retentionInDays: 30 }
}

resource insights 'Microsoft.Insights/components@2020-02-02' = {
  name: '${namePrefix}-ai-${suffix}'
  location: location
  kind: 'web'
  properties: { Application_Type: 'web', WorkspaceResourceId: logs.id, DisableLocalAuth: true }
}

resource vault 'Microsoft.KeyVault/vaults@2023-07-01' = {
  name: vaultName
  location: location
  properties: {
    tenantId: subscription().tenantId
    sku: { family: 'A', name: 'standard' }
    enableRbacAuthorization: true
    enableSoftDelete: true
    softDeleteRetentionInDays: 90
    enablePurgeProtection: true
    publicNetworkAccess: 'Enabled'
  }
}

resource plan 'Microsoft.Web/serverfarms@2024-04-01' = {
  name: '${namePrefix}-plan-${suffix}'
  location: location
  kind: 'functionapp'
  sku: { tier: 'FlexConsumption', name: 'FC1' }
  properties: { reserved: true }
}

resource redis 'Microsoft.Cache/redis@2024-03-01' = if (enableRedis) {
  name: '${namePrefix}-redis-${suffix}'
  location: location
  properties: {
    sku: { name: 'Standard', family: 'C', capacity: 0 }
    enableNonSslPort: false
    minimumTlsVersion: '1.2'
    disableAccessKeyAuthentication: true
    redisConfiguration: { 'aad-enabled': 'true', 'maxmemory-policy': 'volatile-lru' }
  }
}

resource app 'Microsoft.Web/sites@2024-04-01' = {
  name: '${namePrefix}-func-${suffix}'
  location: location
  kind: 'functionapp,linux'
  identity: { type: 'SystemAssigned' }
  tags: { 'azd-service-name': 'broker' }
  properties: {
    serverFarmId: plan.id
    httpsOnly: true
    functionAppConfig: {
      deployment: {
        storage: {
          type: 'blobContainer'
          value: '${storage.properties.primaryEndpoints.blob}deployments'
          authentication: { type: 'SystemAssignedIdentity' }
        }
      }
      scaleAndConcurrency: { maximumInstanceCount: maximumInstanceCount, instanceMemoryMB: 2048 }
      runtime: { name: 'node', version: '20' }
    }
    siteConfig: {
      minTlsVersion: '1.2'
      ftpsState: 'Disabled'
      appSettings: [
        { name: 'AzureWebJobsStorage__accountName', value: storage.name }
        { name: 'AzureWebJobsStorage__credential', value: 'managedidentity' }
        { name: 'APPLICATIONINSIGHTS_CONNECTION_STRING', value: insights.properties.ConnectionString }
        { name: 'APPLICATIONINSIGHTS_AUTHENTICATION_STRING', value: 'Authorization=AAD' }
        { name: 'BROKER_CONFIG', value: 'config/broker.config.json' }
        { name: 'KEY_VAULT_URL', value: vault.properties.vaultUri }
        { name: 'MAINTENANCE_SCHEDULE', value: maintenanceSchedule }
        { name: 'REDIS_URL', value: enableRedis ? 'rediss://${redis.properties.hostName}:6380' : '' }
        { name: 'REDIS_ENTRA_AUTH', value: enableRedis ? 'true' : 'false' }
        // Partner-API key rotation needs a fleet-wide lock: Redis, or a single instance.
        { name: 'ALLOW_IN_PROCESS_ROTATION_LOCK', value: (!enableRedis && maximumInstanceCount == 1) ? 'true' : 'false' }
      ]
    }
  }
}

// Role definition ids are fixed by Azure.
var roles = {
  keyVaultSecretsOfficer: 'b86a8fe4-44ce-4948-aee5-eccb2c155cd7' // read + write secrets: rotation writes new versions
  storageBlobDataOwner: 'b7e6dc6d-f1e8-4753-8033-0f276bb0955b' // host leases, timer state, deployment package
  monitoringMetricsPublisher: '3913510d-42f4-4e42-8a64-420c390055eb' // Entra-authenticated telemetry
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

resource redisAccess 'Microsoft.Cache/redis/accessPolicyAssignments@2024-03-01' = if (enableRedis) {
  parent: redis
  name: 'token-broker'
  properties: {
    accessPolicyName: 'Data Contributor'
    objectId: app.identity.principalId
    objectIdAlias: 'token-broker'
  }
}

output functionAppName string = app.name
output functionAppUrl string = 'https://${app.properties.defaultHostName}'
output keyVaultUrl string = vault.properties.vaultUri
output redisHost string = enableRedis ? redis.properties.hostName : ''

@description('Resource id of the action group the monitoring alerts notify (empty: alerts fire without notifying).')
param alertActionGroupId string = ''

// Alerts and the operations workbook over the broker's OpenTelemetry metrics (see README "Observability").
module monitoring 'monitoring.bicep' = {
  name: 'monitoring'
  params: {
    location: location
    namePrefix: namePrefix
    applicationInsightsId: insights.id
    actionGroupId: alertActionGroupId
  }
}

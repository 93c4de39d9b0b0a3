// Token broker on Azure, as `azd up` provisions it: one resource group per azd environment holding
// a Flex Consumption Function App (Node 22) with a system-assigned managed identity, Key Vault
// (RBAC), Application Insights, identity-based storage and, by default, Azure Managed Redis with
// Microsoft Entra authentication. The resources live in resources.bicep; this file names them.
targetScope = 'subscription'

@minLength(1)
@maxLength(64)
@description('azd environment name (AZURE_ENV_NAME): up to 64 letters, digits and dashes; it names the resource group and seeds every other name.')
param environmentName string

@minLength(1)
@description('Azure region of every resource; it must offer Flex Consumption and Azure Managed Redis.')
@metadata({ azd: { type: 'location' } })
param location string

@description('Object id of whoever deploys (azd: the signed-in user or service principal). It gets Key Vault Secrets Officer to write the partner secrets.')
param deployerPrincipalId string = deployer().objectId

@description('Azure Managed Redis for the fleet cache and the fleet-wide rotation lock. On by default: partner-API key rotation on more than one instance needs it, and the broker refuses to start without it. Off only with maximumInstanceCount 1 (then the in-process rotation lock is allowed) or with no partner-API rotation configured.')
param enableRedis bool = true

@description('Azure Managed Redis SKU. Balanced_B0 (the smallest) holds the broker thousands of times over: one small entry per provider and secret version.')
@allowed(['Balanced_B0', 'Balanced_B1', 'Balanced_B3', 'Balanced_B5'])
param redisSku string = 'Balanced_B0'

@description('Replicate the Redis data (a second node). The broker keeps serving from memory and partners while Redis is down, so Disabled halves the cost at the price of the SLA.')
param redisHighAvailability bool = true

@description('Maximum instances of the Function App. With enableRedis=false and partner-API rotation, set 1.')
@minValue(1)
@maxValue(1000)
param maximumInstanceCount int = 40

@description('Instance memory of the Flex Consumption plan.')
@allowed([512, 2048, 4096])
param instanceMemoryMB int = 2048

@description('NCRONTAB schedule of the maintenance timer (pre-warm, rotation, retirement, orphan sweep).')
param maintenanceSchedule string = '0 */5 * * * *'

@description('Raise to 2, 3... to give the vault a new name: after `azd down`, a vault with purge protection stays soft-deleted (its name taken) for 90 days.')
@minValue(1)
@maxValue(99)
param keyVaultGeneration int = 1

@description('Purge protection on the vault (irreversible once on). Turn off only for throwaway environments, so that `azd down --purge` frees the vault name at once.')
param keyVaultPurgeProtection bool = true

@description('The broker configuration itself (azd: BROKER_CONFIG_JSON). Empty: the app reads config/broker.config.json deployed with the code.')
param brokerConfig object = {}

// Every name derives from this: stable for one azd environment, subscription and region, unique
// across them (13 lower-case letters and digits).
var resourceToken = toLower(uniqueString(subscription().id, environmentName, location))
var tags = { 'azd-env-name': environmentName }

resource rg 'Microsoft.Resources/resourceGroups@2024-03-01' = {
  name: 'rg-${environmentName}'
  location: location
  tags: tags
}

module resources 'resources.bicep' = {
  name: 'token-broker-resources'
  scope: rg
  params: {
    resourceToken: resourceToken
    location: location
    tags: tags
    serviceName: 'broker'
    deployerPrincipalId: deployerPrincipalId
    enableRedis: enableRedis
    redisSku: redisSku
    redisHighAvailability: redisHighAvailability
    maximumInstanceCount: maximumInstanceCount
    instanceMemoryMB: instanceMemoryMB
    maintenanceSchedule: maintenanceSchedule
    keyVaultGeneration: keyVaultGeneration
    keyVaultPurgeProtection: keyVaultPurgeProtection
    brokerConfig: brokerConfig
  }
}

// azd stores these in the environment (`azd env get-values`); the README's steps use them.
output AZURE_LOCATION string = location
output AZURE_TENANT_ID string = tenant().tenantId
output AZURE_RESOURCE_GROUP string = rg.name
output AZURE_FUNCTION_APP_NAME string = resources.outputs.functionAppName
output AZURE_FUNCTION_APP_URL string = resources.outputs.functionAppUrl
output AZURE_FUNCTION_APP_PRINCIPAL_ID string = resources.outputs.functionAppPrincipalId
output AZURE_KEY_VAULT_NAME string = resources.outputs.keyVaultName
output AZURE_KEY_VAULT_ENDPOINT string = resources.outputs.keyVaultUrl
output REDIS_HOST string = resources.outputs.redisHost
// For monitoring (alerts, workbook) added next to this template.
output APPLICATIONINSIGHTS_NAME string = resources.outputs.applicationInsightsName
output APPLICATIONINSIGHTS_ID string = resources.outputs.applicationInsightsId
output LOG_ANALYTICS_WORKSPACE_ID string = resources.outputs.logAnalyticsWorkspaceId
output AZURE_FUNCTION_APP_ID string = resources.outputs.functionAppId

@description('Resource id of the action group the monitoring alerts notify (empty: alerts fire without notifying).')
param alertActionGroupId string = ''

// Alerts and the operations workbook over the broker's OpenTelemetry metrics (see README "Observability").
module monitoring 'monitoring.bicep' = {
  name: 'token-broker-monitoring'
  scope: rg
  params: {
    location: location
    namePrefix: 'alert-${resourceToken}'
    tags: tags
    applicationInsightsId: resources.outputs.applicationInsightsId
    actionGroupId: alertActionGroupId
  }
}

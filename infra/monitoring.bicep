// Alerts and the operations workbook of the token broker, over the OpenTelemetry metrics it sends
// to Application Insights (customMetrics). Metric and attribute names are those of
// shared/telemetry/instruments.ts: a test fails if a query here names one the code does not emit.
targetScope = 'resourceGroup'

param location string = resourceGroup().location

@description('Short prefix for resource names.')
param namePrefix string

@description('Tags of every resource (azd-env-name).')
param tags object = {}

@description('Resource id of the Application Insights component the broker exports to.')
param applicationInsightsId string

@description('Resource id of the action group alerts notify; empty: alerts fire (visible in the portal) without notifying anyone.')
param actionGroupId string = ''

@description('Alert when a provider\'s circuit breaker has stayed open this many minutes.')
@minValue(5)
@maxValue(1440)
param circuitOpenMinutes int = 15

@description('Alert when more than this percentage of a provider\'s partner calls failed over 15 minutes.')
@minValue(1)
@maxValue(100)
param partnerFailurePercent int = 20

@description('Minimum partner calls in the window before the failure rate is judged.')
param partnerFailureMinCalls int = 5

@description('Alert when the key in service is this many minutes past its rotation due time.')
param rotationOverdueGraceMinutes int = 120

@description('Alert when callers received more than this many 5xx answers in 15 minutes.')
param caller5xxThreshold int = 10

var actions = empty(actionGroupId) ? [] : [actionGroupId]

// severity: 0 critical ... 4 verbose. Every query returns one row per failing provider (the split
// dimension), so one alert fires per provider and resolves on its own when the row disappears.
var alertDefinitions = [
  {
    key: 'rotation-needs-attention'
    displayName: 'Token broker: key rotation needs attention'
    description: 'Automatic rotation stopped after repeated failures (journal needsAttention). Runbook: README "Observability" > rotation needs attention.'
    severity: 1
    window: 'PT15M'
    dimensions: ['provider']
    query: '''
customMetrics
| where name == "token_broker.rotation.needs_attention"
| extend provider = tostring(customDimensions["provider"])
| summarize needsAttention = max(value) by provider
| where needsAttention >= 1
'''
  }
  {
    key: 'rotation-failed'
    displayName: 'Token broker: key rotation failed'
    description: 'A rotation run (timer or operator) ended failed, rejected or at the partner key limit. Runbook: README "Observability" > rotation failed.'
    severity: 2
    window: 'PT15M'
    dimensions: ['provider', 'outcome']
    query: '''
customMetrics
| where name == "token_broker.rotation.runs"
| extend provider = tostring(customDimensions["provider"]), outcome = tostring(customDimensions["outcome"])
| where outcome in ("failed", "rejected", "key_limit_reached")
| summarize runs = sum(valueSum) by provider, outcome
| where runs > 0
'''
  }
  {
    key: 'rotation-overdue'
    displayName: 'Token broker: partner key older than its rotation interval'
    description: 'The key in service is past its due time plus the grace: rotation is not happening. Runbook: README "Observability" > key overdue.'
    severity: 2
    window: 'PT30M'
    dimensions: ['provider']
    // Multi-line strings take no interpolation: thresholds go in with format().
    query: format('''
customMetrics
| where name == "token_broker.rotation.overdue"
| extend provider = tostring(customDimensions["provider"])
| summarize overdueSec = max(value) by provider
| where overdueSec > {0}
''', rotationOverdueGraceMinutes * 60)
  }
  {
    key: 'circuit-open'
    displayName: 'Token broker: partner circuit open for ${circuitOpenMinutes} minutes'
    description: 'Every sample of the window saw the provider\'s circuit breaker open: callers get 503 unless a cached credential is still valid. Runbook: README "Observability" > circuit open.'
    severity: 1
    window: 'PT${circuitOpenMinutes}M'
    dimensions: ['provider']
    query: '''
customMetrics
| where name == "token_broker.partner.circuit.state"
| extend provider = tostring(customDimensions["provider"])
| summarize samples = count(), open = countif(value == 2) by provider
| where samples > 0 and open == samples
'''
  }
  {
    key: 'partner-failure-rate'
    displayName: 'Token broker: partner failure rate above ${partnerFailurePercent}%'
    description: 'Partner token calls failing (after retries). Runbook: README "Observability" > partner failing.'
    severity: 2
    window: 'PT15M'
    dimensions: ['provider']
    query: format('''
customMetrics
| where name == "token_broker.partner.fetch.duration"
| extend provider = tostring(customDimensions["provider"]), outcome = tostring(customDimensions["outcome"])
| summarize calls = sum(valueCount), failed = sumif(valueCount, outcome != "success") by provider
| where calls >= {0} and failed * 100.0 / calls > {1}
''', partnerFailureMinCalls, partnerFailurePercent)
  }
  {
    key: 'stale-secrets'
    displayName: 'Token broker: secrets served stale while the store fails'
    description: 'Key Vault reads are failing and cached secret values are being served past their TTL (up to secrets.maxStaleSec). Runbook: README "Observability" > stale secrets.'
    severity: 2
    window: 'PT15M'
    dimensions: []
    query: '''
customMetrics
| where name == "token_broker.secret_store.stale_served"
| summarize served = sum(valueSum)
| where served > 0
'''
  }
  {
    key: 'caller-5xx'
    displayName: 'Token broker: callers receiving 5xx'
    description: 'Token requests answered 502/503 (or 500) above the threshold. Runbook: README "Observability" > caller 5xx.'
    severity: 1
    window: 'PT15M'
    dimensions: ['provider', 'code']
    query: format('''
customMetrics
| where name == "token_broker.token.requests"
| extend provider = tostring(customDimensions["provider"]), code = tostring(customDimensions["code"]), status = toint(customDimensions["http.response.status_code"])
| where status >= 500
| summarize errors = sum(valueSum) by provider, code
| where errors > {0}
''', caller5xxThreshold)
  }
]

resource alerts 'Microsoft.Insights/scheduledQueryRules@2023-12-01' = [
  for alert in alertDefinitions: {
    name: '${namePrefix}-${alert.key}'
    location: location
    tags: tags
    properties: {
      displayName: alert.displayName
      description: alert.description
      severity: alert.severity
      enabled: true
      scopes: [applicationInsightsId]
      evaluationFrequency: 'PT5M'
      windowSize: alert.window
      autoMitigate: true
      criteria: {
        allOf: [
          {
            query: alert.query
            timeAggregation: 'Count'
            operator: 'GreaterThan'
            threshold: 0
            dimensions: [for d in alert.dimensions: { name: d, operator: 'Include', values: ['*'] }]
            failingPeriods: { numberOfEvaluationPeriods: 1, minFailingPeriodsToAlert: 1 }
          }
        ]
      }
      actions: { actionGroups: actions }
    }
  }
]

resource workbook 'Microsoft.Insights/workbooks@2023-06-01' = {
  name: guid(resourceGroup().id, namePrefix, 'token-broker-workbook')
  location: location
  tags: tags
  kind: 'shared'
  properties: {
    displayName: 'Token broker operations'
    category: 'workbook'
    sourceId: applicationInsightsId
    serializedData: loadTextContent('workbook.json')
  }
}

output alertRuleIds array = [for (alert, i) in alertDefinitions: alerts[i].id]
output workbookId string = workbook.id

{{/* Names, labels and small computed values shared by every template. */}}

{{- define "llm-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "llm-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else if contains (include "llm-gateway.name" .) .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name (include "llm-gateway.name" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{- define "llm-gateway.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "llm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: llm-gateway
{{- end }}

{{/* Selects the serving pods only (not the migration Job's). */}}
{{- define "llm-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: server
{{- end }}

{{/* Selects the admin Deployment's pods (serve --admin-only). */}}
{{- define "llm-gateway.adminSelectorLabels" -}}
app.kubernetes.io/name: {{ include "llm-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: admin
{{- end }}

{{/* The Secret with GATEWAY_OIDC_ISSUER, _CLIENT_ID, _CLIENT_SECRET, _ROLES_CLAIM of the admin Deployment. */}}
{{- define "llm-gateway.oidcSecretName" -}}
{{- default (printf "%s-oidc" (include "llm-gateway.fullname" .) | trunc 63 | trimSuffix "-") .Values.admin.oidc.existingSecret }}
{{- end }}

{{- define "llm-gateway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "llm-gateway.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* repository:tag, or repository@digest when a digest is pinned. */}}
{{- define "llm-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/* The Secret holding GATEWAY_DATABASE_USER/PASSWORD, GATEWAY_REDIS_URL, GATEWAY_ADMIN_KEY. */}}
{{- define "llm-gateway.secretName" -}}
{{- default (include "llm-gateway.fullname" .) .Values.secrets.existingSecret }}
{{- end }}

{{/* The migration Job runs before the release's own Secret exists, so it gets its own. */}}
{{- define "llm-gateway.migrationSecretName" -}}
{{- if .Values.secrets.existingSecret }}
{{- .Values.secrets.existingSecret }}
{{- else }}
{{- printf "%s-migrate" (include "llm-gateway.fullname" .) | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}

{{/*
The pod must outlive its drain: preStop sleep (endpoints catch up), then the
gateway's own grace period for in-flight streams, then a margin for exit.
*/}}
{{- define "llm-gateway.terminationGracePeriodSeconds" -}}
{{- add .Values.gateway.preStopSleepSeconds .Values.gateway.shutdownGraceSeconds .Values.gateway.terminationMarginSeconds }}
{{- end }}

{{/* Non-secret database parts; user and password come from the Secret. */}}
{{- define "llm-gateway.databaseEnv" -}}
- name: GATEWAY_DATABASE_HOST
  value: {{ .Values.database.host | quote }}
- name: GATEWAY_DATABASE_PORT
  value: {{ .Values.database.port | quote }}
- name: GATEWAY_DATABASE_NAME
  value: {{ .Values.database.name | quote }}
{{- with .Values.database.sslMode }}
- name: PGSSLMODE
  value: {{ . | quote }}
{{- end }}
{{- end }}

{{/*
"true" when the gateway talks to a Redis/Valkey Cluster (GATEWAY_REDIS_CLUSTER), else empty.
redis.cluster "auto": an ElastiCache configuration endpoint (clustercfg.*) means cluster mode.
*/}}
{{- define "llm-gateway.redisCluster" -}}
{{- $cluster := .Values.redis.cluster -}}
{{- if eq (toString $cluster) "auto" -}}
{{- $cluster = hasPrefix "clustercfg." .Values.redis.host -}}
{{- end -}}
{{- if and .Values.redis.host (eq (toString $cluster) "true") -}}true{{- end -}}
{{- end }}

{{- define "llm-gateway.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{- define "llm-gateway.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
privileged: false
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end }}

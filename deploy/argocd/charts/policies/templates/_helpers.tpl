{{- define "policies.failureAction" -}}
{{- if .Values.enforce }}Enforce{{ else }}Audit{{ end -}}
{{- end }}

{{- define "policies.failurePolicy" -}}
{{- if .Values.enforce }}Fail{{ else }}Ignore{{ end -}}
{{- end }}

{{/* Metadata and spec head of one policy: (dict "name" "description" "root"). */}}
{{- define "policies.head" -}}
apiVersion: kyverno.io/v1
kind: ClusterPolicy
metadata:
  name: {{ .name }}
  annotations:
    policies.kyverno.io/category: Pod Security Standards (Restricted)
    policies.kyverno.io/severity: high
    policies.kyverno.io/subject: Pod
    policies.kyverno.io/description: {{ .description }}
spec:
  background: true
  failurePolicy: {{ include "policies.failurePolicy" .root }}
{{- end }}

{{- define "policies.match" -}}
match:
  any:
    - resources:
        kinds: [Pod]
exclude:
  any:
    - resources:
        namespaces:
          {{- toYaml .Values.excludedNamespaces | nindent 10 }}
{{- end }}

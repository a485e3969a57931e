{{/* Fields every child Application shares. */}}
{{- define "platform.app" -}}
apiVersion: argoproj.io/v1alpha1
kind: Application
metadata:
  name: {{ .name }}
  namespace: argocd
  annotations:
    argocd.argoproj.io/sync-wave: {{ .wave | quote }}
  finalizers:
    - resources-finalizer.argocd.argoproj.io
  labels:
    app.kubernetes.io/part-of: llm-gateway-platform
    llm-gateway.io/environment: {{ .root.Values.environment }}
{{- end }}

{{- define "platform.syncPolicy" -}}
syncPolicy:
  automated:
    prune: true
    selfHeal: true
  retry:
    limit: 10
    backoff:
      duration: 10s
      factor: 2
      maxDuration: 5m
  syncOptions:
    - CreateNamespace=true
    - ServerSideApply=true
{{- end }}

{{/* The platform's own git repository: required, never an example default. */}}
{{- define "platform.repoURL" -}}
{{- required "repoURL is required: the git remote Argo CD pulls deploy/ from (RUNME.py sets it from the checkout's origin)" .Values.repoURL -}}
{{- end }}

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

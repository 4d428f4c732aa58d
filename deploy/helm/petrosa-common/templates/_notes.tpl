{{- define "petrosa.notes" -}}
{{- include "petrosa.init" . }}
{{- $component := include "petrosa.component" . }}
{{- $name := include "petrosa.fullname" . }}
The Petrosa Data Manager {{ $component }} is installed as {{ $name }} (release {{ .Release.Name }}).
{{- if eq $component "api" }}
API:      kubectl port-forward svc/{{ $name }} {{ .Values.ports.api }}  then open http://127.0.0.1:{{ .Values.ports.api }}/docs
{{- end }}
Health:   /health/liveness and /health/readiness; metrics at /metrics on the Service's port.
Secret:   {{ include "petrosa.secretName" . }}. Bump secrets.revision after changing it, so the pods restart.
{{- if and .Values.secrets.existingSecret (include "petrosa.mongoQuery" .) }}
MongoDB:  mongo.* options are added only to a Secret the chart creates: put them into the
          market-store URL of {{ .Values.secrets.existingSecret }} yourself.
{{- end }}
{{- end }}

{{/* The secret-backed env: store URLs, the NATS login, the shared rate-limit store. */}}
{{- define "petrosa.secretEnv" -}}
{{- $secret := include "petrosa.secretName" . }}
{{- $keys := .Values.secrets.keys }}
{{- $nats := .Values.nats }}
- name: MARKET_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.marketStoreUrl }}
- name: METADATA_STORE_URL
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.metadataStoreUrl }}
{{- if eq $nats.auth "userPassword" }}
- name: NATS_USER
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.natsUser }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.natsPassword }}
{{- else if eq $nats.auth "token" }}
- name: NATS_TOKEN
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.natsToken }}
{{- else if eq $nats.auth "nkey" }}
- name: NATS_NKEY_SEED_FILE
  value: /etc/petrosa/nats/{{ $keys.natsNkeySeed }}
{{- else if eq $nats.auth "creds" }}
- name: NATS_CREDS_FILE
  value: /etc/petrosa/nats/{{ $keys.natsCreds }}
{{- end }}
{{- if $nats.tls.enabled }}
- name: NATS_TLS_CA_FILE
  value: /etc/petrosa/nats/{{ $keys.natsTlsCa }}
{{- if $nats.tls.clientCert }}
- name: NATS_TLS_CERT_FILE
  value: /etc/petrosa/nats/{{ $keys.natsTlsCert }}
- name: NATS_TLS_KEY_FILE
  value: /etc/petrosa/nats/{{ $keys.natsTlsKey }}
{{- end }}
{{- end }}
{{- if include "petrosa.redisOn" . }}
- name: {{ .Values.redis.urlEnv }}
  valueFrom:
    secretKeyRef:
      name: {{ $secret }}
      key: {{ $keys.redisUrl }}
{{- end }}
{{- end }}

{{/* Secret keys mounted as files under /etc/petrosa/nats for the NATS login and TLS. */}}
{{- define "petrosa.natsFiles" -}}
{{- $nats := .Values.nats }}
{{- $keys := .Values.secrets.keys }}
{{- $files := list }}
{{- if eq $nats.auth "nkey" }}{{ $files = append $files $keys.natsNkeySeed }}{{ end }}
{{- if eq $nats.auth "creds" }}{{ $files = append $files $keys.natsCreds }}{{ end }}
{{- if $nats.tls.enabled }}{{ $files = append $files $keys.natsTlsCa }}{{ end }}
{{- if and $nats.tls.enabled $nats.tls.clientCert }}{{ $files = concat $files (list $keys.natsTlsCert $keys.natsTlsKey) }}{{ end }}
{{- join " " $files }}
{{- end }}

{{- define "petrosa.deployment" -}}
{{- include "petrosa.init" . }}
{{- $component := include "petrosa.component" . }}
{{- $preStop := int (default 0 .Values.preStopSleepSeconds) }}
{{- $grace := int .Values.terminationGracePeriodSeconds }}
{{- $natsFiles := compact (splitList " " (include "petrosa.natsFiles" .)) }}
{{- $port := ternary .Values.ports.api .Values.ports.metrics (eq $component "api") }}
{{- if le $grace (add $preStop (int .Values.shutdownTimeoutSeconds)) }}
{{- fail (printf "terminationGracePeriodSeconds (%d) must exceed preStopSleepSeconds plus shutdownTimeoutSeconds" $grace) }}
{{- end }}
{{- $autoscaled := or (and .Values.autoscaling .Values.autoscaling.enabled) (and .Values.keda .Values.keda.enabled) }}
apiVersion: apps/v1
kind: Deployment
metadata:
  name: {{ include "petrosa.fullname" . }}
  labels:
    {{- include "petrosa.labels" . | nindent 4 }}
spec:
  {{- if not $autoscaled }}
  replicas: {{ .Values.replicaCount }}
  {{- end }}
  revisionHistoryLimit: 5
  selector:
    matchLabels:
      {{- include "petrosa.selectorLabels" . | nindent 6 }}
  template:
    metadata:
      labels:
        {{- include "petrosa.selectorLabels" . | nindent 8 }}
        {{- with .Values.podLabels }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
      annotations:
        checksum/config: {{ include "petrosa.configData" . | sha256sum }}
        # Not a hash of the Secret: a digest of a short password lets anyone who reads pods
        # test guesses offline. Bumping secrets.revision restarts the pods instead.
        petrosa/secret-revision: {{ .Values.secrets.revision | toString | quote }}
        {{- with .Values.podAnnotations }}
        {{- toYaml . | nindent 8 }}
        {{- end }}
    spec:
      serviceAccountName: {{ include "petrosa.serviceAccountName" . }}
      automountServiceAccountToken: false
      terminationGracePeriodSeconds: {{ $grace }}
      {{- with .Values.imagePullSecrets }}
      imagePullSecrets:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      securityContext:
        {{- toYaml .Values.podSecurityContext | nindent 8 }}
      containers:
        - name: {{ $component }}
          image: {{ include "petrosa.image" . | quote }}
          imagePullPolicy: {{ .Values.image.pullPolicy }}
          args: [{{ $component | quote }}]
          ports:
            - name: {{ include "petrosa.portName" . }}
              containerPort: {{ $port }}
              protocol: TCP
          envFrom:
            - configMapRef:
                name: {{ include "petrosa.fullname" . }}
          env:
            {{- include "petrosa.secretEnv" . | trim | nindent 12 }}
          startupProbe:
            httpGet:
              path: {{ .Values.probes.liveness.path }}
              port: {{ include "petrosa.portName" . }}
            periodSeconds: {{ .Values.probes.startup.periodSeconds }}
            failureThreshold: {{ .Values.probes.startup.failureThreshold }}
          livenessProbe:
            httpGet:
              path: {{ .Values.probes.liveness.path }}
              port: {{ include "petrosa.portName" . }}
            {{- toYaml (omit .Values.probes.liveness "path") | nindent 12 }}
          readinessProbe:
            httpGet:
              path: {{ .Values.probes.readiness.path }}
              port: {{ include "petrosa.portName" . }}
            {{- toYaml (omit .Values.probes.readiness "path") | nindent 12 }}
          {{- if $preStop }}
          lifecycle:
            preStop:
              exec:
                command: ["sleep", {{ $preStop | quote }}]
          {{- end }}
          resources:
            {{- toYaml .Values.resources | nindent 12 }}
          securityContext:
            {{- toYaml .Values.securityContext | nindent 12 }}
          volumeMounts:
            - name: tmp
              mountPath: /tmp
            {{- if eq $component "api" }}
            - name: api-keys
              mountPath: /etc/petrosa/api-keys
              readOnly: true
            {{- end }}
            {{- if $natsFiles }}
            - name: nats-auth
              mountPath: /etc/petrosa/nats
              readOnly: true
            {{- end }}
      volumes:
        # The root filesystem is read-only; libraries that spill to disk use /tmp.
        - name: tmp
          emptyDir:
            sizeLimit: 256Mi
        {{- if eq $component "api" }}
        - name: api-keys
          secret:
            secretName: {{ include "petrosa.secretName" . }}
            items:
              - key: {{ .Values.secrets.keys.apiKeys }}
                path: {{ .Values.secrets.keys.apiKeys }}
        {{- end }}
        {{- if $natsFiles }}
        - name: nats-auth
          secret:
            secretName: {{ include "petrosa.secretName" . }}
            # Readable by the pod's group (fsGroup) only.
            defaultMode: 0440
            items:
              {{- range $key := $natsFiles }}
              - key: {{ $key }}
                path: {{ $key }}
              {{- end }}
        {{- end }}
      {{- with .Values.topologySpreadConstraints }}
      topologySpreadConstraints:
        {{- tpl (toYaml .) $ | nindent 8 }}
      {{- end }}
      {{- with .Values.nodeSelector }}
      nodeSelector:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.tolerations }}
      tolerations:
        {{- toYaml . | nindent 8 }}
      {{- end }}
      {{- with .Values.affinity }}
      affinity:
        {{- toYaml . | nindent 8 }}
      {{- end }}
{{- end }}

{{/* The release's base name. */}}
{{- define "gateway.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "gateway.labels" -}}
{{ include "gateway.selectorLabels" . }}
app.kubernetes.io/part-of: access-gateway
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{- end -}}

{{- define "gateway.redisName" -}}{{ include "gateway.fullname" . }}-redis{{- end -}}

{{- define "gateway.image" -}}
{{- if .Values.image.digest -}}
{{ .Values.image.repository }}@{{ .Values.image.digest }}
{{- else -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end -}}
{{- end -}}

{{/* Mount points of the chart's Secrets. */}}
{{- define "gateway.keysDir" -}}/etc/gateway-keys{{- end -}}
{{- define "gateway.tlsDir" -}}/etc/gateway-tls{{- end -}}
{{- define "gateway.deviceCADir" -}}/etc/gateway-device-ca{{- end -}}
{{- define "gateway.redisCADir" -}}/etc/gateway-redis-ca{{- end -}}

{{- define "gateway.keysSecret" -}}{{ .Values.keys.existingSecret | default (printf "%s-keys" (include "gateway.fullname" .)) }}{{- end -}}
{{- define "gateway.oidcSecret" -}}{{ .Values.oidc.existingSecret | default (printf "%s-oidc" (include "gateway.fullname" .)) }}{{- end -}}

{{- define "gateway.redisPasswordSecret" -}}
{{- if .Values.redis.bundled.enabled -}}
{{ include "gateway.redisName" . }}
{{- else -}}
{{ .Values.redis.passwordSecret.name }}
{{- end -}}
{{- end -}}

{{- define "gateway.redisPasswordKey" -}}
{{- if .Values.redis.bundled.enabled -}}REDIS_PASSWORD{{- else -}}{{ .Values.redis.passwordSecret.key }}{{- end -}}
{{- end -}}

{{/* shutdownGrace (a Go duration: 15s, 1m, 1m30s, 500ms) in whole seconds,
rounded up, for terminationGracePeriodSeconds. 0 is the gateway's default,
15s. A form the chart cannot convert fails the rendering rather than yield a
grace period shorter than the drain. */}}
{{- define "gateway.shutdownGraceSeconds" -}}
{{- $g := .Values.shutdownGrace | toString -}}
{{- $hms := "^(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?$" -}}
{{- $secs := 0 -}}
{{- if and $g (regexMatch $hms $g) -}}
{{- $secs = add (mul (regexReplaceAll $hms $g "${1}" | int) 3600) (mul (regexReplaceAll $hms $g "${2}" | int) 60) (regexReplaceAll $hms $g "${3}" | int) -}}
{{- else if regexMatch "^[0-9]+(ms|us|µs|ns)$" $g -}}
{{- $per := get (dict "ms" 1000 "us" 1000000 "µs" 1000000 "ns" 1000000000) (regexReplaceAll "^[0-9]+" $g "") -}}
{{- $secs = div (add (regexReplaceAll "[^0-9]" $g "" | int64) (sub $per 1)) $per -}}
{{- else if eq $g "0" -}}
{{- $secs = 0 -}}
{{- else -}}
{{- fail (printf "shutdownGrace: %q: write it in whole hours, minutes and seconds (15s, 1m, 1m30s) or as ms" $g) -}}
{{- end -}}
{{- if eq (int $secs) 0 }}15{{ else }}{{ $secs }}{{ end -}}
{{- end -}}

{{/* The gateway's configuration: .Values.config with the chart's keys set. */}}
{{- define "gateway.config" -}}
{{- $v := .Values -}}
{{- $cfg := deepCopy $v.config -}}
{{- $listen := dict "address" (printf ":%d" (int $v.ports.http)) "shutdown_grace" $v.shutdownGrace -}}
{{- if $v.tls.existingSecret -}}
{{- $_ := set $listen "tls" (dict "cert_file" (printf "%s/tls.crt" (include "gateway.tlsDir" .)) "key_file" (printf "%s/tls.key" (include "gateway.tlsDir" .))) -}}
{{- end -}}
{{- $_ := set $cfg "listen" (merge $listen (get $cfg "listen" | default dict)) -}}
{{- $_ := set $cfg "admin" (dict "address" (printf ":%d" (int $v.ports.admin))) -}}
{{- $signing := list -}}
{{- range $v.keys.signing -}}
{{- $k := dict "file" (printf "%s/%s" (include "gateway.keysDir" $) .file) "state" .state -}}
{{- if .until }}{{ $_ := set $k "until" .until }}{{ end -}}
{{- $signing = append $signing $k -}}
{{- end -}}
{{- $_ := set $cfg "token" (merge (dict "keys" $signing) (get $cfg "token" | default dict)) -}}
{{- $sessionKeys := list -}}
{{- range $v.keys.session -}}
{{- $sessionKeys = append $sessionKeys (dict "file" (printf "%s/%s" (include "gateway.keysDir" $) .file) "state" .state) -}}
{{- end -}}
{{- $redis := dict -}}
{{- if $v.redis.bundled.enabled -}}
{{- $_ := set $redis "addrs" (list (printf "%s:6379" (include "gateway.redisName" .))) -}}
{{- else -}}
{{- if not $v.redis.addrs -}}
{{- fail "redis.addrs: list the Redis addresses (host:port), or set redis.bundled.enabled for a trial" -}}
{{- end -}}
{{- $_ := set $redis "addrs" $v.redis.addrs -}}
{{- if $v.redis.masterName }}{{ $_ := set $redis "master_name" $v.redis.masterName }}{{ end -}}
{{- end -}}
{{- if or $v.redis.bundled.enabled $v.redis.passwordSecret.name -}}
{{- $_ := set $redis "password" "${REDIS_PASSWORD}" -}}
{{- end -}}
{{- if $v.redis.tls.enabled -}}
{{- $rtls := dict "enabled" true -}}
{{- if $v.redis.tls.serverName }}{{ $_ := set $rtls "server_name" $v.redis.tls.serverName }}{{ end -}}
{{- if $v.redis.tls.caSecret }}{{ $_ := set $rtls "ca_file" (printf "%s/ca.crt" (include "gateway.redisCADir" .)) }}{{ end -}}
{{- $_ := set $redis "tls" $rtls -}}
{{- end -}}
{{- $session := get $cfg "session" | default dict -}}
{{- $_ := set $session "store" "redis" -}}
{{- $_ := set $session "encryption_keys" $sessionKeys -}}
{{- $_ := set $session "redis" (merge $redis (get $session "redis" | default dict)) -}}
{{- $_ := set $cfg "session" $session -}}
{{- if and $v.deviceCA.existingSecret (hasKey $cfg "devices") -}}
{{- $dev := get $cfg "devices" -}}
{{- $_ := set $dev "certificates" (merge (dict "ca_cert_file" (printf "%s/tls.crt" (include "gateway.deviceCADir" .)) "ca_key_file" (printf "%s/tls.key" (include "gateway.deviceCADir" .))) (get $dev "certificates" | default dict)) -}}
{{- end -}}
{{- toYaml $cfg -}}
{{- end -}}

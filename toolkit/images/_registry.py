"""A small Registry HTTP API v2 client: tag lists, manifest digests and image labels.

Loopback registries speak plain HTTP (the engine treats 127.0.0.0/8 as insecure too); everything else HTTPS.
Credentials come from the docker CLI's config (``auths``, ``credHelpers``, ``credsStore``), as ``docker push``
would use them, and are exchanged for a bearer token when the registry asks for one (Artifact Registry does).
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import re
from dataclasses import dataclass

from toolkit.errors import ImageError
from toolkit.images._reasons import short_reason

MANIFEST_MEDIA_TYPES = ", ".join(
    [
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
        "application/vnd.oci.image.manifest.v1+json",
        "application/vnd.oci.image.index.v1+json",
    ]
)
TIMEOUT_SECONDS = 20
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


def _is_loopback(host: str) -> bool:
    hostname = host.rsplit(":", 1)[0] if host.count(":") == 1 else host
    hostname = hostname.strip("[]")
    if hostname == "localhost":
        return True
    try:
        return ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class RegistryLocation:
    host: str  # registry host[:port]
    prefix: str  # repository path inside it ("" or e.g. cpg-common/images)

    @classmethod
    def parse(cls, registry: str) -> "RegistryLocation":
        host, _, prefix = registry.strip("/").partition("/")
        return cls(host=host, prefix=prefix)

    def repository(self, name: str) -> str:
        return f"{self.prefix}/{name}" if self.prefix else name

    @property
    def base_url(self) -> str:
        scheme = "http" if _is_loopback(self.host) else "https"
        return f"{scheme}://{self.host}"


class RegistryClient:
    def __init__(self, registry: str):
        import requests

        self.registry = registry
        self.location = RegistryLocation.parse(registry)
        self._session = requests.Session()
        self._tokens: dict[str, str] = {}

    # --- transport -----------------------------------------------------------------------------------------
    def _credentials(self) -> tuple[str, str] | None:
        from docker import auth

        try:
            config = auth.load_config()
            entry = config.resolve_authconfig(self.location.host)
        except Exception:  # a broken docker config means "anonymous", as for the CLI
            return None
        if not entry:
            return None
        if entry.get("IdentityToken"):
            return ("<token>", entry["IdentityToken"])
        if entry.get("Username") and entry.get("Password"):
            return (entry["Username"], entry["Password"])
        return None

    def _bearer_token(self, challenge: str, scope: str) -> str:
        params = dict(_CHALLENGE_PARAM.findall(challenge))
        realm = params.pop("realm", None)
        if not realm:
            raise ImageError(f"registry {self.registry} asked for a token without saying where to get it")
        params.setdefault("scope", scope)
        response = self._session.get(realm, params=params, auth=self._credentials(), timeout=TIMEOUT_SECONDS)
        if response.status_code != 200:
            raise ImageError(
                f"registry {self.registry} refused a token ({response.status_code})",
                hint="log in first (docker login / gcloud auth configure-docker)",
            )
        body = response.json()
        return body.get("token") or body.get("access_token") or ""

    def _request(self, method: str, path: str, scope: str, **kwargs):
        import requests

        url = self.location.base_url + path
        headers = kwargs.pop("headers", {})
        for attempt in range(2):
            if scope in self._tokens:
                headers["Authorization"] = f"Bearer {self._tokens[scope]}"
            try:
                response = self._session.request(method, url, headers=headers, timeout=TIMEOUT_SECONDS, **kwargs)
            except requests.RequestException as error:
                raise ImageError(f"registry {self.registry} unreachable: {short_reason(error)}") from None
            challenge = response.headers.get("WWW-Authenticate", "")
            if response.status_code == 401 and attempt == 0:
                if challenge.lower().startswith("bearer"):
                    self._tokens[scope] = self._bearer_token(challenge, scope)
                    continue
                if challenge.lower().startswith("basic") and self._credentials():
                    kwargs["auth"] = self._credentials()
                    continue
            return response
        return response

    def _fail(self, response, what: str) -> ImageError:
        detail = ""
        try:
            errors = response.json().get("errors") or []
            detail = "; ".join(f"{e.get('code')}: {e.get('message')}" for e in errors)
        except ValueError:
            detail = response.text[:200]
        return ImageError(f"registry {self.registry}: {what} failed ({response.status_code} {detail})".rstrip())

    # --- API -----------------------------------------------------------------------------------------------
    def ping(self) -> None:
        """ImageError unless the registry answers the v2 API (401 counts: it answers, but wants credentials)."""
        response = self._request("GET", "/v2/", scope="registry:catalog:*")
        if response.status_code not in (200, 401):
            raise self._fail(response, "the /v2/ check")

    def tags(self, name: str) -> list[str]:
        """Every tag of ``name`` (following pagination); [] when the repository does not exist yet."""
        repository = self.location.repository(name)
        scope = f"repository:{repository}:pull"
        path = f"/v2/{repository}/tags/list?n=1000"
        found: list[str] = []
        while path:
            response = self._request("GET", path, scope=scope)
            if response.status_code == 404:
                return found
            if response.status_code != 200:
                raise self._fail(response, f"listing the tags of {repository}")
            found.extend(response.json().get("tags") or [])
            next_link = response.links.get("next", {}).get("url")
            path = next_link if next_link and next_link.startswith("/") else None
        return found

    def _manifest(self, name: str, reference: str, method: str):
        repository = self.location.repository(name)
        return self._request(
            method,
            f"/v2/{repository}/manifests/{reference}",
            scope=f"repository:{repository}:pull",
            headers={"Accept": MANIFEST_MEDIA_TYPES},
        )

    def manifest_digest(self, name: str, tag: str) -> str | None:
        """The manifest digest (sha256:...) the registry serves for ``name:tag``; None when the tag is absent."""
        response = self._manifest(name, tag, "HEAD")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"reading the manifest of {name}:{tag}")
        digest = response.headers.get("Docker-Content-Digest")
        if digest:
            return digest
        body = self._manifest(name, tag, "GET")
        return "sha256:" + hashlib.sha256(body.content).hexdigest()

    def labels(self, name: str, reference: str) -> dict[str, str] | None:
        """The image config's labels for ``name:tag`` or ``name@digest``; None when absent or not readable."""
        response = self._manifest(name, reference, "GET")
        if response.status_code == 404:
            return None
        if response.status_code != 200:
            raise self._fail(response, f"reading the manifest of {name}:{reference}")
        manifest = response.json()
        if "manifests" in manifest:  # an index: the toolkit builds single-platform images, take the first
            if not manifest["manifests"]:
                return None
            return self.labels(name, manifest["manifests"][0]["digest"])
        config_digest = manifest.get("config", {}).get("digest")
        if not config_digest:
            return None
        repository = self.location.repository(name)
        blob = self._request("GET", f"/v2/{repository}/blobs/{config_digest}", scope=f"repository:{repository}:pull")
        if blob.status_code != 200:
            raise self._fail(blob, f"reading the image config of {name}:{reference}")
        config = json.loads(blob.content)
        return (config.get("config") or {}).get("Labels") or {}

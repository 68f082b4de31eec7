"""Make what examples/serve/server.toml needs: a self-signed TLS certificate and a tiny model.

Run:  python examples/serve/make_example.py [--out DIR]

Writes DIR/server.pem + DIR/server.key (self-signed for 127.0.0.1 and localhost,
valid 30 days), DIR/digits.keras (a tiny 64 -> 10 classifier), and DIR/server.toml
(this folder's server.toml with the model's SHA-256 pinned). DIR defaults to this
folder. Then: keras-sanitize serve --config DIR/server.toml
"""

from __future__ import annotations

import argparse
import datetime
import ipaddress
import os
import re
from pathlib import Path

os.environ.setdefault("KERAS_BACKEND", "jax")

HERE = Path(__file__).resolve().parent


def make_cert(out: Path) -> tuple[Path, Path]:
    """A self-signed EC certificate for 127.0.0.1 / localhost; returns (certfile, keyfile)."""
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=5))
        .not_valid_after(now + datetime.timedelta(days=30))
        .add_extension(
            x509.SubjectAlternativeName(
                [x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]
            ),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    certfile, keyfile = out / "server.pem", out / "server.key"
    certfile.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    keyfile.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    keyfile.chmod(0o600)
    return certfile, keyfile


def make_model(path: Path) -> str:
    """Save a tiny 64 -> 10 softmax classifier to ``path``; return its SHA-256."""
    import keras

    import keras_sanitize as ks

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((64,), name="pixels"),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.Dense(10, activation="softmax", name="probs"),
        ]
    )
    model.save(path)
    return str(ks.artifacts.sha256(path))


def pin(template: Path, target: Path, model: str, digest: str) -> None:
    """Write ``template`` to ``target`` with ``[models.<model>] sha256`` set to ``digest``."""
    text = template.read_text()
    section = re.compile(rf"(\[models\.{re.escape(model)}\][^\[]*?sha256 = )\"[0-9a-f]{{64}}\"", re.S)
    text, n = section.subn(rf'\g<1>"{digest}"', text)
    if n != 1:
        raise SystemExit(f"{template} has no sha256 line under [models.{model}]")
    target.write_text(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--out", type=Path, default=HERE, help="folder to write into (default: this one)")
    args = parser.parse_args()
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    make_cert(out)
    digest = make_model(out / "digits.keras")
    pin(HERE / "server.toml", out / "server.toml", "digits", digest)
    print(f"wrote {out}/server.pem, server.key, digits.keras (sha256 {digest[:16]}...), server.toml")
    print(f"start:  keras-sanitize serve --config {out}/server.toml")
    print(f"call:   python {HERE}/client.py --ca {out}/server.pem")


if __name__ == "__main__":
    main()

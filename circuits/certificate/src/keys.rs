//! Keys: development keys from a fixed, labelled seed, cached on disk, and checked loading of
//! keys from an external ceremony.
//!
//! **Development keys are insecure.** Their setup randomness comes from a public seed, so
//! anyone can recompute the toxic waste and forge a proof of anything. They exist so that tests,
//! examples and local networks work without a ceremony. Every development verifying key is
//! listed in `dev-keys.txt` (class and SHA-256 of the compressed key); [`Mode::Production`]
//! refuses them all, and `curve verify` says so whenever it uses one.

use std::fs;
use std::io;
use std::path::{Path, PathBuf};

use ark_bn254::{Bn254, Fr, G1Affine, G1Projective, G2Affine, G2Projective};
use ark_ec::{AffineRepr, CurveGroup};
use ark_groth16::Groth16;
use ark_serialize::{CanonicalDeserialize, CanonicalSerialize, Compress, Validate};
use ark_snark::SNARK;
use curve_formats::certificate::{PUBLIC_INPUTS, SizeClass};
use rand_chacha::ChaCha20Rng;
use rand_core::SeedableRng;
use sha2::{Digest, Sha256};

use crate::circuit::{self, CertificateCircuit};

/// A Groth16 proving key over BN254.
pub type ProvingKey = ark_groth16::ProvingKey<Bn254>;
/// A Groth16 verifying key over BN254.
pub type VerifyingKey = ark_groth16::VerifyingKey<Bn254>;
/// A verifying key with its pairing precomputation, as [`crate::verify`] takes it.
pub type PreparedVerifyingKey = ark_groth16::PreparedVerifyingKey<Bn254>;

/// The label the development seed is derived from (SHA-256 of it seeds ChaCha20).
pub const DEV_SEED_LABEL: &str =
    "curve/certificate/dev-keys/v1: INSECURE, the seed is public and anyone can forge proofs";

/// The list of development verifying keys: `<class> <sha256 of the compressed key>` per line.
pub const DEV_KEYS: &str = include_str!("../dev-keys.txt");

/// Whether development keys are acceptable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// Tests, examples, local networks: development keys are accepted (and announced).
    Development,
    /// Anything that guards value: development keys are refused.
    Production,
}

/// Why keys were refused.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// The bytes are not a key (wrong length, a point off the curve or outside the subgroup).
    #[error("not a valid {what}: {reason}")]
    Malformed {
        /// Which key.
        what: &'static str,
        /// What arkworks said.
        reason: String,
    },
    /// The verifying key has the wrong number of public-input points.
    #[error(
        "the verifying key has {found} public-input points; the certificate has {expected} (1 + {PUBLIC_INPUTS} inputs)"
    )]
    WrongInputCount {
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// δ = ±γ: proofs can be forged by moving terms between the C and public-input pairings.
    #[error("the verifying key has delta = ±gamma, which lets anyone forge proofs")]
    DeltaEqualsGamma,
    /// One of α, β, γ, δ is a development key's (in any position): a key built from the public
    /// development setup, however else it differs, has a trapdoor anyone can compute.
    #[error(
        "the verifying key's {element} is the {dev_element} of the development key for size class {class}: anyone can forge proofs with it"
    )]
    DevelopmentElement {
        /// Which element of the given key.
        element: &'static str,
        /// Which development key element it equals.
        dev_element: &'static str,
        /// That development key's class.
        class: SizeClass,
    },
    /// A key element is the identity.
    #[error("the verifying key's {0} is the identity point")]
    Identity(&'static str),
    /// The proving key's query lengths do not match the size class's circuit.
    #[error(
        "the proving key does not match size class {class}: {what} has {found} points, the circuit needs {expected}"
    )]
    WrongShape {
        /// The class.
        class: SizeClass,
        /// Which query.
        what: &'static str,
        /// Expected.
        expected: usize,
        /// Found.
        found: usize,
    },
    /// The proving key embeds another verifying key.
    #[error("the proving key's verifying key is not the one given")]
    VerifyingKeyMismatch,
    /// A development key outside development mode.
    #[error(
        "refusing the development key for size class {0}: its setup seed is public, so anyone can forge proofs"
    )]
    DevelopmentKey(SizeClass),
    /// Development keys regenerated here differ from the listed ones (an arkworks change?).
    #[error(
        "the development key for size class {class} hashes to {found}, but dev-keys.txt lists {listed}"
    )]
    DevListMismatch {
        /// The class.
        class: SizeClass,
        /// Listed.
        listed: String,
        /// Found.
        found: String,
    },
    /// Reading or writing the cache.
    #[error("key cache {path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The error.
        source: io::Error,
    },
}

fn malformed(what: &'static str) -> impl Fn(ark_serialize::SerializationError) -> KeyError {
    move |e| KeyError::Malformed {
        what,
        reason: e.to_string(),
    }
}

/// SHA-256 of the compressed verifying key: how keys are named in `dev-keys.txt`, manifests and
/// the regression list.
pub fn vk_hash(vk: &VerifyingKey) -> [u8; 32] {
    Sha256::digest(vk_bytes(vk)).into()
}

/// The compressed verifying key.
pub fn vk_bytes(vk: &VerifyingKey) -> Vec<u8> {
    let mut bytes = Vec::new();
    vk.serialize_compressed(&mut bytes)
        .expect("serializing to memory");
    bytes
}

/// The development verifying-key hash listed for `class`, if any.
pub fn listed_dev_hash(class: SizeClass) -> Option<[u8; 32]> {
    DEV_KEYS
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'))
        .filter_map(|line| line.split_once(' '))
        .find(|(name, _)| *name == class.name())
        .map(|(_, hash)| {
            let mut out = [0u8; 32];
            hex::decode_to_slice(hash.trim(), &mut out).expect("dev-keys.txt holds hex hashes");
            out
        })
}

/// Whether `vk` is a listed development key, and of which class.
pub fn dev_class_of(vk: &VerifyingKey) -> Option<SizeClass> {
    let hash = vk_hash(vk);
    SizeClass::ALL
        .into_iter()
        .find(|class| listed_dev_hash(*class) == Some(hash))
}

/// Checks a verifying key for use with `class`'s certificates.
pub fn check_vk(vk: &VerifyingKey, mode: Mode) -> Result<(), KeyError> {
    if vk.gamma_abc_g1.len() != PUBLIC_INPUTS + 1 {
        return Err(KeyError::WrongInputCount {
            expected: PUBLIC_INPUTS + 1,
            found: vk.gamma_abc_g1.len(),
        });
    }
    if vk.alpha_g1.is_zero() {
        return Err(KeyError::Identity("alpha"));
    }
    for (name, point) in [
        ("beta", vk.beta_g2),
        ("gamma", vk.gamma_g2),
        ("delta", vk.delta_g2),
    ] {
        if point.is_zero() {
            return Err(KeyError::Identity(name));
        }
    }
    if vk.gamma_abc_g1.iter().any(|p| p.is_zero()) {
        return Err(KeyError::Identity("public-input point"));
    }
    if vk.delta_g2 == vk.gamma_g2 || vk.delta_g2 == -vk.gamma_g2 {
        return Err(KeyError::DeltaEqualsGamma);
    }
    if mode == Mode::Production {
        if let Some(class) = dev_class_of(vk) {
            return Err(KeyError::DevelopmentKey(class));
        }
        check_no_dev_elements(vk)?;
    }
    Ok(())
}

/// The secret scalars and generators of `class`'s development setup: ark-groth16 draws α, β, γ,
/// δ, then the G1 and G2 generators, first from the setup's RNG, before it looks at the circuit.
/// Anyone can recompute them from the public seed — which is what makes development keys
/// insecure, and what lets every verifier recognise their elements.
#[doc(hidden)]
pub fn dev_trapdoor(class: SizeClass) -> DevTrapdoor {
    use ark_ff::UniformRand;
    let mut rng = ChaCha20Rng::from_seed(dev_seed(class));
    let alpha = Fr::rand(&mut rng);
    let beta = Fr::rand(&mut rng);
    let gamma = Fr::rand(&mut rng);
    let delta = Fr::rand(&mut rng);
    let g1 = G1Projective::rand(&mut rng);
    let g2 = G2Projective::rand(&mut rng);
    DevTrapdoor {
        alpha,
        beta,
        gamma,
        delta,
        g1,
        g2,
    }
}

/// A development setup's toxic waste (see [`dev_trapdoor`]).
#[doc(hidden)]
#[derive(Clone, Copy, Debug)]
pub struct DevTrapdoor {
    /// α.
    pub alpha: Fr,
    /// β.
    pub beta: Fr,
    /// γ.
    pub gamma: Fr,
    /// δ.
    pub delta: Fr,
    /// The G1 generator.
    pub g1: G1Projective,
    /// The G2 generator.
    pub g2: G2Projective,
}

impl DevTrapdoor {
    /// The verifying-key elements it gives: α·g1, β·g2, γ·g2, δ·g2.
    pub fn elements(&self) -> (G1Affine, [G2Affine; 3]) {
        (
            (self.g1 * self.alpha).into_affine(),
            [
                (self.g2 * self.beta).into_affine(),
                (self.g2 * self.gamma).into_affine(),
                (self.g2 * self.delta).into_affine(),
            ],
        )
    }
}

/// Refuses a key that shares α, β, γ or δ with a development key, in any position.
fn check_no_dev_elements(vk: &VerifyingKey) -> Result<(), KeyError> {
    const G2_NAMES: [&str; 3] = ["beta", "gamma", "delta"];
    let given_g2 = [vk.beta_g2, vk.gamma_g2, vk.delta_g2];
    for class in SizeClass::ALL {
        let (alpha, dev_g2) = dev_trapdoor(class).elements();
        if vk.alpha_g1 == alpha {
            return Err(KeyError::DevelopmentElement {
                element: "alpha",
                dev_element: "alpha",
                class,
            });
        }
        for (element, given) in G2_NAMES.iter().zip(given_g2) {
            for (dev_element, dev) in G2_NAMES.iter().zip(dev_g2) {
                if given == dev || given == -dev {
                    return Err(KeyError::DevelopmentElement {
                        element,
                        dev_element,
                        class,
                    });
                }
            }
        }
    }
    Ok(())
}

fn dev_seed(class: SizeClass) -> [u8; 32] {
    Sha256::new()
        .chain_update(DEV_SEED_LABEL.as_bytes())
        .chain_update(b"/")
        .chain_update(class.name().as_bytes())
        .finalize()
        .into()
}

/// Loads a compressed verifying key from an external ceremony (points validated).
pub fn load_vk(bytes: &[u8], mode: Mode) -> Result<VerifyingKey, KeyError> {
    let vk = VerifyingKey::deserialize_with_mode(bytes, Compress::Yes, Validate::Yes)
        .map_err(malformed("verifying key"))?;
    check_vk(&vk, mode)?;
    Ok(vk)
}

/// Checks a proving key against `class`'s circuit shape and its verifying key.
pub fn check_pk(pk: &ProvingKey, class: SizeClass, mode: Mode) -> Result<(), KeyError> {
    check_vk(&pk.vk, mode)?;
    let circuit::Shape {
        instances,
        witnesses,
        ..
    } = circuit::shape(class);
    for (what, expected, found) in [
        ("a_query", instances + witnesses, pk.a_query.len()),
        ("b_g2_query", instances + witnesses, pk.b_g2_query.len()),
        ("l_query", witnesses, pk.l_query.len()),
    ] {
        if expected != found {
            return Err(KeyError::WrongShape {
                class,
                what,
                expected,
                found,
            });
        }
    }
    Ok(())
}

/// Loads an uncompressed proving key from an external ceremony and checks it against `class`
/// and, when given, the verifying key it must embed.
pub fn load_pk(
    bytes: &[u8],
    class: SizeClass,
    vk: Option<&VerifyingKey>,
    mode: Mode,
) -> Result<ProvingKey, KeyError> {
    let pk = ProvingKey::deserialize_with_mode(bytes, Compress::No, Validate::Yes)
        .map_err(malformed("proving key"))?;
    check_pk(&pk, class, mode)?;
    if vk.is_some_and(|vk| *vk != pk.vk) {
        return Err(KeyError::VerifyingKeyMismatch);
    }
    Ok(pk)
}

/// A setup of `class` from `seed`: for tests that need a key no development key shares anything
/// with, standing in for a ceremony's (its seed is in the test, so it is no more secret than a
/// development key — never use one outside tests).
#[doc(hidden)]
pub fn setup_from_seed(class: SizeClass, seed: [u8; 32]) -> ProvingKey {
    let mut rng = ChaCha20Rng::from_seed(seed);
    Groth16::<Bn254>::circuit_specific_setup(CertificateCircuit::blank(class), &mut rng)
        .expect("the blank circuit synthesises")
        .0
}

/// Runs the development setup for `class` (deterministic: the seed is SHA-256 of
/// [`DEV_SEED_LABEL`] and the class name).
pub fn dev_setup(class: SizeClass) -> ProvingKey {
    let mut rng = ChaCha20Rng::from_seed(dev_seed(class));
    let (pk, _) =
        Groth16::<Bn254>::circuit_specific_setup(CertificateCircuit::blank(class), &mut rng)
            .expect("the blank circuit synthesises");
    pk
}

/// What [`KeyStore::dev_keys`] is doing, for a progress display.
#[derive(Clone, Copy, Debug)]
pub enum Progress {
    /// Loading cached keys.
    Loading(SizeClass),
    /// Running the setup (no cached keys): the circuit has `constraints` constraints.
    Generating {
        /// The class.
        class: SizeClass,
        /// Its constraints.
        constraints: usize,
    },
    /// Writing the cache.
    Saving(SizeClass),
}

/// A directory of cached development keys.
#[derive(Clone, Debug)]
pub struct KeyStore {
    dir: PathBuf,
}

impl KeyStore {
    /// The store at `dir` (created on first write).
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        KeyStore { dir: dir.into() }
    }

    /// `$CURVE_KEYS_DIR`, else `$XDG_CACHE_HOME/curve/keys`, else `~/.cache/curve/keys`.
    pub fn default_dir() -> PathBuf {
        if let Some(dir) = std::env::var_os("CURVE_KEYS_DIR") {
            return PathBuf::from(dir);
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cache")))
            .unwrap_or_else(std::env::temp_dir);
        cache.join("curve").join("keys")
    }

    /// Where the reproducible proof named `key` is cached ([`crate::proof::prove_cached`]).
    pub(crate) fn proof_path(&self, key: &[u8; 32]) -> PathBuf {
        self.dir
            .join("proofs")
            .join(format!("{}.proof", hex::encode(key)))
    }

    /// Keeps `bytes` at `path` in this store, written then renamed so that a concurrent
    /// reader never sees half a file.
    pub(crate) fn keep(&self, path: &Path, bytes: &[u8]) -> io::Result<()> {
        if let Some(parent) = path.parent() {
            fs::create_dir_all(parent)?;
        }
        let temporary = path.with_extension(format!("tmp{}", std::process::id()));
        fs::write(&temporary, bytes)?;
        fs::rename(&temporary, path)
    }

    /// Where `class`'s development proving key is cached.
    pub fn dev_path(&self, class: SizeClass) -> PathBuf {
        self.dir.join(format!("dev-v2-{class}.pk"))
    }

    /// `class`'s development proving key: from the cache if present and matching the list,
    /// else generated, checked against `dev-keys.txt` and cached.
    pub fn dev_keys(
        &self,
        class: SizeClass,
        progress: &mut dyn FnMut(Progress),
    ) -> Result<ProvingKey, KeyError> {
        let path = self.dev_path(class);
        if let Ok(bytes) = fs::read(&path) {
            progress(Progress::Loading(class));
            // Our own cache: points are not re-validated (that costs seconds), but the embedded
            // verifying key must be the listed one, and a corrupt file is regenerated.
            if let Ok(pk) =
                ProvingKey::deserialize_with_mode(&bytes[..], Compress::No, Validate::No)
                && listed_dev_hash(class) == Some(vk_hash(&pk.vk))
                && check_pk(&pk, class, Mode::Development).is_ok()
            {
                return Ok(pk);
            }
        }
        progress(Progress::Generating {
            class,
            constraints: circuit::constraint_count(class),
        });
        let pk = dev_setup(class);
        let found = vk_hash(&pk.vk);
        match listed_dev_hash(class) {
            Some(listed) if listed == found => {}
            listed => {
                return Err(KeyError::DevListMismatch {
                    class,
                    listed: listed.map_or_else(|| "nothing".into(), hex::encode),
                    found: hex::encode(found),
                });
            }
        }
        progress(Progress::Saving(class));
        let io = |source| KeyError::Io {
            path: path.clone(),
            source,
        };
        let mut bytes = Vec::new();
        pk.serialize_uncompressed(&mut bytes)
            .expect("serializing to memory");
        self.keep(&path, &bytes).map_err(io)?;
        Ok(pk)
    }
}

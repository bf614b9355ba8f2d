//! `meta.properties` in the data directory, as Kafka keeps it: the cluster id
//! and node id this data belongs to. Generated on first start; afterwards a
//! mismatching `--cluster-id` or `--node-id` is refused, so one broker's data is
//! never served under another identity.

use std::io::Write as _;
use std::path::Path;

use crate::config::parse_properties;

const FILE: &str = "meta.properties";

/// Whether `data_dir` already holds an identity: false before its first start.
pub fn exists(data_dir: &Path) -> bool {
    data_dir.join(FILE).is_file()
}

/// Reads the identity kept in `data_dir`, or writes it on first start.
/// Returns the cluster id to use.
pub fn load_or_init(
    data_dir: &Path,
    cluster_id: Option<&str>,
    node_id: i32,
) -> anyhow::Result<String> {
    let path = data_dir.join(FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let pairs =
                parse_properties(&text).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
            let get = |key: &str| pairs.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone());
            let stored = get("cluster.id")
                .ok_or_else(|| anyhow::anyhow!("{} has no cluster.id", path.display()))?;
            if let Some(wanted) = cluster_id
                && wanted != stored
            {
                anyhow::bail!(
                    "--cluster-id {wanted} does not match cluster.id {stored} in {}; \
                     this data belongs to another cluster",
                    path.display()
                );
            }
            if let Some(stored_node) = get("node.id")
                && stored_node != node_id.to_string()
            {
                anyhow::bail!(
                    "--node-id {node_id} does not match node.id {stored_node} in {}",
                    path.display()
                );
            }
            Ok(stored)
        }
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
            let id = cluster_id.map_or_else(generate_cluster_id, str::to_owned);
            if id.is_empty() || id.contains(['\n', '=']) {
                anyhow::bail!("--cluster-id {id:?} is not a usable cluster id");
            }
            std::fs::create_dir_all(data_dir)?;
            let tmp = data_dir.join(format!("{FILE}.tmp"));
            let mut file = std::fs::File::create(&tmp)?;
            writeln!(file, "version=1\ncluster.id={id}\nnode.id={node_id}")?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            std::fs::File::open(data_dir)?.sync_all()?;
            Ok(id)
        }
        Err(error) => Err(anyhow::anyhow!("cannot read {}: {error}", path.display())),
    }
}

/// A random cluster id in Kafka's form: a UUID as 22 characters of URL-safe
/// base64 without padding.
pub fn generate_cluster_id() -> String {
    base64_url(uuid::Uuid::new_v4().as_bytes())
}

fn base64_url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..=chunk.len() {
            out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_ids_look_like_kafkas() {
        let id = generate_cluster_id();
        assert_eq!(id.len(), 22);
        assert!(
            id.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        );
        assert_eq!(base64_url(b"\xfb\xff"), "-_8");
    }

    #[test]
    fn the_identity_is_generated_once_and_then_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_init(dir.path(), None, 0).unwrap();
        assert_eq!(load_or_init(dir.path(), None, 0).unwrap(), first);
        assert_eq!(load_or_init(dir.path(), Some(&first), 0).unwrap(), first);
        let error = load_or_init(dir.path(), Some("other"), 0).unwrap_err();
        assert!(
            error.to_string().contains("belongs to another cluster"),
            "{error}"
        );
        let error = load_or_init(dir.path(), None, 1).unwrap_err();
        assert!(
            error.to_string().contains("does not match node.id"),
            "{error}"
        );
    }
}

//! Cluster jobs for a sweep: a Slurm job array with a dependent merge job, and
//! a Kubernetes Indexed Job with a merge Job. Each task runs one shard with
//! the headless `nnm`; the merge joins the shard directories.
//!
//! The layout, for a sweep directory `D`: `D/<engine>/` holds the resolved
//! `sweep.ron` and the job files, `D/shards/<i>/` shard `i`, and the merge
//! makes `D` itself the sweep directory.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

/// The folder of shard directories inside a cluster sweep's directory.
pub(super) const SHARDS_DIR: &str = "shards";

/// A sweep to run on a cluster.
#[derive(Debug, Clone)]
pub struct ClusterJob {
    /// The sweep's name.
    pub name: String,
    /// How many shards (array tasks, or Job completions).
    pub shards: usize,
    /// The sweep directory the merge makes.
    pub dir: PathBuf,
    /// The `nnm` the nodes run (a path on the nodes, or a name on their PATH).
    pub nnm: String,
}

/// Settings of the Slurm jobs.
#[derive(Debug, Clone, Default)]
pub struct SlurmOptions {
    /// CPUs per array task (the shard trains on as many threads).
    pub cpus_per_task: usize,
    /// The partition, if not the default one.
    pub partition: Option<String>,
    /// The time limit per task, in Slurm's format (such as `2:00:00`).
    pub time: Option<String>,
}

/// Settings of the Kubernetes Jobs.
#[derive(Debug, Clone)]
pub struct K8sOptions {
    /// The container image, which holds the headless `nnm` on its PATH.
    pub image: String,
    /// The PersistentVolumeClaim, mounted at `/runs`, that receives the sweep.
    pub claim: String,
    /// CPUs requested per shard.
    pub cpus: usize,
    /// Shards that run at once.
    pub parallelism: usize,
}

/// A shell word: quoted unless it is plainly safe.
fn sh(word: &str) -> String {
    if !word.is_empty()
        && word
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "/._-+:=@%".contains(c))
    {
        word.to_string()
    } else {
        format!("'{}'", word.replace('\'', r"'\''"))
    }
}

impl ClusterJob {
    /// Shard `i`'s directory.
    pub fn shard_dir(&self, i: usize) -> PathBuf {
        self.dir.join(SHARDS_DIR).join(i.to_string())
    }

    /// The `sbatch` script of the array: task `i` trains shard `i/N` into
    /// `D/shards/i`, or resumes it when the task runs again after a requeue.
    pub fn slurm_array(&self, spec: &Path, options: &SlurmOptions) -> String {
        let logs = self.dir.join("slurm");
        let mut s = String::from("#!/bin/bash\n");
        s.push_str(&format!("#SBATCH --job-name=nnm-{}\n", self.name));
        s.push_str(&format!(
            "#SBATCH --array=0-{}\n",
            self.shards.saturating_sub(1)
        ));
        s.push_str(&format!(
            "#SBATCH --cpus-per-task={}\n",
            options.cpus_per_task.max(1)
        ));
        s.push_str(&format!(
            "#SBATCH --output={}\n",
            logs.join("shard-%a.log").display()
        ));
        if let Some(p) = &options.partition {
            s.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        if let Some(t) = &options.time {
            s.push_str(&format!("#SBATCH --time={t}\n"));
        }
        s.push_str("#SBATCH --requeue\n");
        s.push_str(&format!(
            "# Shard $SLURM_ARRAY_TASK_ID of {} of the sweep `{}`: written by `nnm sweep slurm`.\n",
            self.shards, self.name
        ));
        s.push_str("set -euo pipefail\n");
        s.push_str(&format!(
            "out={}/\"$SLURM_ARRAY_TASK_ID\"\n",
            sh(&self.dir.join(SHARDS_DIR).display().to_string())
        ));
        s.push_str("threads=\"${SLURM_CPUS_PER_TASK:-1}\"\n");
        s.push_str("if [ -f \"$out/sweep.ron\" ]; then\n");
        s.push_str(&format!(
            "    exec {} sweep resume \"$out\" --threads \"$threads\"\n",
            sh(&self.nnm)
        ));
        s.push_str("fi\n");
        s.push_str(&format!(
            "exec {} sweep {} --shard \"$SLURM_ARRAY_TASK_ID/{}\" --out \"$out\" --threads \"$threads\"\n",
            sh(&self.nnm),
            sh(&spec.display().to_string()),
            self.shards
        ));
        s
    }

    /// The `sbatch` script of the merge, submitted with `--dependency=afterok:<array>`.
    pub fn slurm_merge(&self, options: &SlurmOptions) -> String {
        let mut s = String::from("#!/bin/bash\n");
        s.push_str(&format!("#SBATCH --job-name=nnm-{}-merge\n", self.name));
        s.push_str("#SBATCH --cpus-per-task=1\n");
        s.push_str(&format!(
            "#SBATCH --output={}\n",
            self.dir.join("slurm").join("merge.log").display()
        ));
        if let Some(p) = &options.partition {
            s.push_str(&format!("#SBATCH --partition={p}\n"));
        }
        s.push_str(&format!(
            "# Joins the {} shards of the sweep `{}` into {}.\n",
            self.shards,
            self.name,
            self.dir.display()
        ));
        s.push_str("set -euo pipefail\n");
        let shards: Vec<String> = (0..self.shards)
            .map(|i| sh(&self.shard_dir(i).display().to_string()))
            .collect();
        s.push_str(&format!(
            "exec {} sweep merge {} --out {}\n",
            sh(&self.nnm),
            shards.join(" "),
            sh(&self.dir.display().to_string())
        ));
        s
    }

    /// A DNS-1123 name for Kubernetes objects: `nnm-<sweep>`, lowercase.
    pub fn k8s_name(&self) -> String {
        let mut name: String = format!("nnm-{}", self.name)
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() {
                    c.to_ascii_lowercase()
                } else {
                    '-'
                }
            })
            .collect();
        name.truncate(52);
        name.trim_end_matches('-').to_string()
    }

    /// The ConfigMap holding `sweep.ron` and the Indexed Job whose completion
    /// `i` trains shard `i/N` into `/runs/<D>/shards/i` on the claim.
    pub fn k8s_job(&self, sweep_ron: &str, options: &K8sOptions) -> Vec<Value> {
        let name = self.k8s_name();
        let dir = self.volume_dir();
        let script = format!(
            "set -eu; out={dir}/{SHARDS_DIR}/$JOB_COMPLETION_INDEX; \
             if [ -f \"$out/sweep.ron\" ]; then exec nnm sweep resume \"$out\" --threads {cpus}; fi; \
             exec nnm sweep /spec/sweep.ron --shard \"$JOB_COMPLETION_INDEX/{n}\" --out \"$out\" --threads {cpus}",
            dir = sh(&dir),
            cpus = options.cpus.max(1),
            n = self.shards
        );
        let config = json!({
            "apiVersion": "v1",
            "kind": "ConfigMap",
            "metadata": {"name": format!("{name}-spec")},
            "data": {"sweep.ron": sweep_ron},
        });
        let job = json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": name.clone(), "labels": {"app": "nn-microscope", "sweep": name.clone()}},
            "spec": {
                "completionMode": "Indexed",
                "completions": self.shards,
                "parallelism": options.parallelism.clamp(1, self.shards.max(1)),
                "backoffLimitPerIndex": 2,
                "template": {
                    "metadata": {"labels": {"app": "nn-microscope", "sweep": name.clone()}},
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [self.k8s_container("shard", &script, options)],
                        "volumes": self.k8s_volumes(&name, options),
                    },
                },
            },
        });
        vec![config, job]
    }

    /// The Job that merges the shards into `/runs/<D>`, applied once the
    /// Indexed Job is complete.
    pub fn k8s_merge(&self, options: &K8sOptions) -> Value {
        let name = self.k8s_name();
        let dir = self.volume_dir();
        let shards: Vec<String> = (0..self.shards)
            .map(|i| sh(&format!("{dir}/{SHARDS_DIR}/{i}")))
            .collect();
        let script = format!(
            "set -eu; exec nnm sweep merge {} --out {}",
            shards.join(" "),
            sh(&dir)
        );
        json!({
            "apiVersion": "batch/v1",
            "kind": "Job",
            "metadata": {"name": format!("{name}-merge"), "labels": {"app": "nn-microscope", "sweep": name.clone()}},
            "spec": {
                "completions": 1,
                "backoffLimit": 2,
                "template": {
                    "spec": {
                        "restartPolicy": "Never",
                        "containers": [self.k8s_container("merge", &script, &K8sOptions { cpus: 1, ..options.clone() })],
                        "volumes": self.k8s_volumes(&name, options),
                    },
                },
            },
        })
    }

    /// The sweep directory's path inside the containers.
    fn volume_dir(&self) -> String {
        let leaf = self
            .dir
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| self.name.clone());
        format!("/runs/{leaf}")
    }

    fn k8s_container(&self, role: &str, script: &str, options: &K8sOptions) -> Value {
        let cpus = options.cpus.max(1).to_string();
        json!({
            "name": role,
            "image": options.image,
            "command": ["sh", "-c", script],
            "resources": {"requests": {"cpu": cpus}, "limits": {"cpu": cpus}},
            "volumeMounts": [
                {"name": "spec", "mountPath": "/spec", "readOnly": true},
                {"name": "runs", "mountPath": "/runs"},
            ],
        })
    }

    fn k8s_volumes(&self, name: &str, options: &K8sOptions) -> Value {
        json!([
            {"name": "spec", "configMap": {"name": format!("{name}-spec")}},
            {"name": "runs", "persistentVolumeClaim": {"claimName": options.claim}},
        ])
    }
}

/// YAML documents (block style; strings double-quoted as in JSON, which YAML reads alike).
pub fn to_yaml(docs: &[Value]) -> String {
    let mut out = String::new();
    for (i, doc) in docs.iter().enumerate() {
        if i > 0 {
            out.push_str("---\n");
        }
        yaml_value(doc, 0, &mut out);
    }
    out
}

fn scalar(v: &Value) -> Option<String> {
    match v {
        Value::Object(m) if m.is_empty() => Some("{}".into()),
        Value::Array(a) if a.is_empty() => Some("[]".into()),
        Value::Object(_) | Value::Array(_) => None,
        other => Some(other.to_string()),
    }
}

/// Writes a mapping or sequence at `indent`, one entry per line.
fn yaml_value(v: &Value, indent: usize, out: &mut String) {
    let pad = " ".repeat(indent);
    match v {
        Value::Object(map) if !map.is_empty() => {
            for (k, item) in map {
                match scalar(item) {
                    Some(s) => out.push_str(&format!("{pad}{k}: {s}\n")),
                    None => {
                        out.push_str(&format!("{pad}{k}:\n"));
                        yaml_value(item, indent + 2, out);
                    }
                }
            }
        }
        Value::Array(items) if !items.is_empty() => {
            for item in items {
                match scalar(item) {
                    Some(s) => out.push_str(&format!("{pad}- {s}\n")),
                    None => {
                        // The first line of a nested block goes after the dash.
                        let mut inner = String::new();
                        yaml_value(item, indent + 2, &mut inner);
                        let trimmed = inner.get(indent + 2..).unwrap_or_default();
                        out.push_str(&format!("{pad}- {trimmed}"));
                    }
                }
            }
        }
        other => out.push_str(&format!("{pad}{}\n", scalar(other).unwrap_or_default())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn job() -> ClusterJob {
        ClusterJob {
            name: "trainability-fractal".into(),
            shards: 4,
            dir: PathBuf::from("/data/runs/trainability-fractal_001"),
            nnm: "/opt/nnm/bin/nnm".into(),
        }
    }

    fn options() -> K8sOptions {
        K8sOptions {
            image: "registry.example/nn-microscope:0.1".into(),
            claim: "nnm-runs".into(),
            cpus: 2,
            parallelism: 4,
        }
    }

    #[test]
    fn the_slurm_array_runs_one_shard_per_task_and_the_merge_joins_them() {
        let j = job();
        let opts = SlurmOptions {
            cpus_per_task: 2,
            partition: Some("debug".into()),
            time: None,
        };
        let array = j.slurm_array(
            Path::new("/data/runs/trainability-fractal_001/slurm/sweep.ron"),
            &opts,
        );
        assert!(array.starts_with("#!/bin/bash\n"));
        for line in [
            "#SBATCH --array=0-3",
            "#SBATCH --cpus-per-task=2",
            "#SBATCH --partition=debug",
            "--shard \"$SLURM_ARRAY_TASK_ID/4\"",
            "out=/data/runs/trainability-fractal_001/shards/\"$SLURM_ARRAY_TASK_ID\"",
            "exec /opt/nnm/bin/nnm sweep resume \"$out\"",
        ] {
            assert!(array.contains(line), "{line} missing from\n{array}");
        }
        let merge = j.slurm_merge(&opts);
        assert!(merge.contains(
            "sweep merge /data/runs/trainability-fractal_001/shards/0 /data/runs/trainability-fractal_001/shards/1 \
             /data/runs/trainability-fractal_001/shards/2 /data/runs/trainability-fractal_001/shards/3 \
             --out /data/runs/trainability-fractal_001\n"
        ));
        assert_eq!(sh("a b'c"), r"'a b'\''c'");
    }

    #[test]
    fn the_kubernetes_job_is_indexed_and_mounts_the_spec_and_the_runs() {
        let j = job();
        let docs = j.k8s_job("Sweep(base: Path(\"xor\"), axes: [])\n", &options());
        let (config, indexed) = (&docs[0], &docs[1]);
        assert_eq!(config["kind"], "ConfigMap");
        assert_eq!(
            config["data"]["sweep.ron"],
            "Sweep(base: Path(\"xor\"), axes: [])\n"
        );
        assert_eq!(indexed["kind"], "Job");
        assert_eq!(indexed["metadata"]["name"], "nnm-trainability-fractal");
        let spec = &indexed["spec"];
        assert_eq!(spec["completionMode"], "Indexed");
        assert_eq!(spec["completions"], 4);
        assert_eq!(spec["template"]["spec"]["restartPolicy"], "Never");
        let container = &spec["template"]["spec"]["containers"][0];
        let script = container["command"][2].as_str().unwrap();
        assert!(
            script.contains("--shard \"$JOB_COMPLETION_INDEX/4\""),
            "{script}"
        );
        assert!(script.contains("out=/runs/trainability-fractal_001/shards/$JOB_COMPLETION_INDEX"));
        assert_eq!(container["volumeMounts"][0]["mountPath"], "/spec");
        assert_eq!(
            spec["template"]["spec"]["volumes"][1]["persistentVolumeClaim"]["claimName"],
            "nnm-runs"
        );
        assert_eq!(
            spec["template"]["spec"]["volumes"][0]["configMap"]["name"],
            config["metadata"]["name"]
        );
        let merge = j.k8s_merge(&options());
        let script = merge["spec"]["template"]["spec"]["containers"][0]["command"][2]
            .as_str()
            .unwrap();
        assert!(
            script.ends_with("/shards/3 --out /runs/trainability-fractal_001"),
            "{script}"
        );
        assert_eq!(
            ClusterJob {
                name: "My_Sweep".into(),
                ..j
            }
            .k8s_name(),
            "nnm-my-sweep"
        );
    }

    #[test]
    fn yaml_is_block_style_with_json_strings() {
        let v = json!({"kind": "Job", "spec": {"n": 4, "list": [{"a": "x", "b": [1, 2]}, "y"], "empty": {}}});
        assert_eq!(
            to_yaml(&[v, json!({"kind": "ConfigMap"})]),
            "kind: \"Job\"\nspec:\n  empty: {}\n  list:\n    - a: \"x\"\n      b:\n        - 1\n        - 2\n    - \"y\"\n  n: 4\n---\nkind: \"ConfigMap\"\n"
        );
    }
}

//! `karpenter crds` prints the generated CRDs, and `--dir` writes them one file per kind.

use std::process::Command;

#[test]
fn crds_prints_every_definition() {
    let output = Command::new(env!("CARGO_BIN_EXE_karpenter")).arg("crds").output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    assert_eq!(String::from_utf8(output.stdout).unwrap(), karpenter_api::crds::to_yaml().unwrap());
}

#[test]
fn crds_dir_writes_one_file_per_kind() {
    let dir = std::env::temp_dir().join(format!("karpenter-crds-test-{}", std::process::id()));
    let output =
        Command::new(env!("CARGO_BIN_EXE_karpenter")).arg("crds").arg("--dir").arg(&dir).output().unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let mut written: Vec<String> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    written.sort();
    assert_eq!(
        written,
        [
            "autoscaling.x-k8s.io_capacitybuffers.yaml",
            "karpenter.k8s.aws_ec2nodeclasses.yaml",
            "karpenter.kwok.sh_kwoknodeclasses.yaml",
            "karpenter.sh_nodeclaims.yaml",
            "karpenter.sh_nodeoverlays.yaml",
            "karpenter.sh_nodepools.yaml"
        ]
    );
    for (file, yaml) in karpenter_api::crds::files().unwrap() {
        assert_eq!(std::fs::read_to_string(dir.join(&file)).unwrap(), yaml, "{file}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

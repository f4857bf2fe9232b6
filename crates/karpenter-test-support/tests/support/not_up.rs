//! When a component is not running, tests fail with the command that starts it.

#[tokio::test]
async fn a_missing_cluster_names_the_command_to_start_it() {
    let Err(error) =
        karpenter_test_support::cluster_at(std::path::Path::new("/nonexistent/kubeconfig")).await
    else {
        panic!("a client for a missing kubeconfig");
    };
    assert_eq!(
        error.to_string(),
        "the test cluster is not up (/nonexistent/kubeconfig is missing): run `cargo xtask cluster up`"
    );
}

#[tokio::test]
async fn a_missing_moto_names_the_command_to_start_it() {
    let error =
        karpenter_test_support::moto_at(std::path::Path::new("/nonexistent/endpoint")).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "moto is not running (/nonexistent/endpoint is missing): run `cargo xtask moto up`"
    );
}

#[tokio::test]
async fn a_broken_kubeconfig_is_reported() {
    let path = std::env::temp_dir().join(format!("broken-kubeconfig-{}", std::process::id()));
    std::fs::write(&path, "this is not: [a kubeconfig").unwrap();
    let Err(error) = karpenter_test_support::cluster_at(&path).await else {
        panic!("a client for a broken kubeconfig")
    };
    let error = error.to_string();
    let _ = std::fs::remove_file(&path);
    assert!(error.contains("could not be used") && error.contains("cargo xtask cluster up"), "{error}");
}

//! The README's drive loop is the crate docs' first example: the code block in
//! README.md must be exactly `examples/loopback.rs` (after its doc comment),
//! which the crate docs include and run as a doctest.

#[test]
fn readme_drive_loop_is_the_compiled_example() {
    let readme = include_str!("../README.md");
    let example = include_str!("../examples/loopback.rs");
    let code: String =
        example.lines().skip_while(|l| l.starts_with("//!") || l.is_empty()).map(|l| format!("{l}\n")).collect();
    let block =
        readme.split("```rust\n").nth(1).and_then(|rest| rest.split("```").next()).expect("a rust block in README.md");
    assert_eq!(block, code, "README.md's drive loop differs from examples/loopback.rs");
}

#[test]
fn readme_starts_with_the_two_commands() {
    let readme = include_str!("../README.md");
    let first_block = readme.split("```sh\n").nth(1).and_then(|r| r.split("```").next()).expect("a sh block");
    assert!(first_block.contains("cargo run --release --example echo_server"));
    assert!(first_block.contains("cargo test --all-features"));
    let ci = include_str!("../.ci/run");
    assert!(ci.contains("cargo test --all-features"), ".ci/run must run the README's test command");
}

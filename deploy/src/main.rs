//! `deploy`: puts the pipeline on Amazon ECS. Not built yet; the ECS deploy issue fills it in.

fn main() {
    eprintln!("deploy: not yet — ECS deployment arrives with its own issue; see README.md");
    std::process::exit(2);
}

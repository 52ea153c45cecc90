//! The local compose stack's pools, sized through the Docker Engine API: what `deploy scale --compose
//! PROJECT` resizes instead of ECS services.
//!
//! A compose service's containers are the ones labelled with its project and service name. Growing a
//! pool starts copies of one of them — its configuration, host configuration, network and labels, under
//! the next container number — as `docker compose up --scale` would, so compose keeps recognising them
//! (`ps`, `down`, a later `--scale`). Shrinking stops the highest-numbered containers with SIGTERM and
//! the stack's grace period: a worker finishes the messages it holds, then exits; nothing it held is lost
//! even if the grace period runs out (the messages come back after their visibility timeout).

use std::collections::HashMap;

use anyhow::Context;
use bollard::Docker;
use bollard::models::{ContainerCreateBody, ContainerSummaryStateEnum, EndpointSettings, NetworkingConfig};
use bollard::query_parameters::{
    CreateContainerOptions, ListContainersOptions, RemoveContainerOptions, StopContainerOptions,
};

use crate::aws::Pools;
use crate::stack::Service;

/// Labels compose puts on every container it makes (compose-spec's `com.docker.compose.*`).
const PROJECT_LABEL: &str = "com.docker.compose.project";
const SERVICE_LABEL: &str = "com.docker.compose.service";
const NUMBER_LABEL: &str = "com.docker.compose.container-number";
const ONE_OFF_LABEL: &str = "com.docker.compose.oneoff";

/// The pools of one compose project.
pub struct ComposePools {
    docker: Docker,
    project: String,
    /// Seconds a stopped container has to drain before it is killed (compose's `stop_grace_period`).
    stop_timeout_secs: i32,
}

/// One container of a pool.
struct Member {
    id: String,
    number: u32,
    running: bool,
}

impl ComposePools {
    /// The pools of compose project `project`, through the local Docker engine (`DOCKER_HOST` or the
    /// default socket), speaking the engine's API version.
    ///
    /// # Errors
    /// When no engine answers.
    pub async fn connect(project: &str, stop_timeout_secs: i32) -> anyhow::Result<Self> {
        let docker = Docker::connect_with_defaults().context("connecting to the Docker engine")?;
        // bollard speaks a newer API than older engines accept (Debian 12's 20.10 stops at 1.41).
        let docker = docker.negotiate_version().await.context("asking the Docker engine its API version")?;
        Ok(Self { docker, project: project.to_owned(), stop_timeout_secs })
    }

    /// The service's containers, running or not, not counting one-off `compose run` containers.
    async fn members(&self, service: Service) -> anyhow::Result<Vec<Member>> {
        let labels = vec![
            format!("{PROJECT_LABEL}={}", self.project),
            format!("{SERVICE_LABEL}={}", service.name()),
            format!("{ONE_OFF_LABEL}=False"),
        ];
        let options = ListContainersOptions {
            all: true,
            filters: Some(HashMap::from([("label".to_owned(), labels)])),
            ..ListContainersOptions::default()
        };
        let containers = self.docker.list_containers(Some(options)).await.context("listing containers")?;
        Ok(containers
            .into_iter()
            .filter_map(|container| {
                let number = container.labels.as_ref()?.get(NUMBER_LABEL)?.parse().ok()?;
                let running = container.state == Some(ContainerSummaryStateEnum::RUNNING);
                Some(Member { id: container.id?, number, running })
            })
            .collect())
    }

    /// The service's containers (not counting one-off ones), and how many of them run: a pool's desired
    /// and running size, as `docclass dashboard` shows it.
    ///
    /// # Errors
    /// When the engine cannot be asked.
    pub async fn counts(&self, service: Service) -> anyhow::Result<(u64, u64)> {
        let members = self.members(service).await?;
        Ok((members.len() as u64, members.iter().filter(|member| member.running).count() as u64))
    }

    /// Starts a copy of `template` as container `number` of its service.
    async fn start_copy(&self, template: &str, number: u32) -> anyhow::Result<()> {
        let inspected = self.docker.inspect_container(template, None).await.context("inspecting a container")?;
        let config = inspected.config.context("a container without configuration")?;
        // Compose names containers <project>_<service>_<n> (v1) or <project>-<service>-<n> (v2): keep the
        // template's spelling and change the number.
        let template_name = inspected.name.unwrap_or_default();
        let prefix = template_name.trim_start_matches('/').trim_end_matches(|c: char| c.is_ascii_digit());
        let mut labels = config.labels.unwrap_or_default();
        labels.insert(NUMBER_LABEL.to_owned(), number.to_string());
        // The same networks under the same service alias, so the copy is reachable as its siblings are.
        let endpoints = inspected.network_settings.and_then(|settings| settings.networks).unwrap_or_default();
        let endpoints = endpoints
            .into_iter()
            .map(|(network, endpoint)| {
                let aliases = endpoint
                    .aliases
                    .map(|aliases| aliases.into_iter().filter(|alias| !template.starts_with(alias.as_str())).collect());
                (network, EndpointSettings { aliases, ..EndpointSettings::default() })
            })
            .collect();
        let body = ContainerCreateBody {
            user: config.user,
            env: config.env,
            cmd: config.cmd,
            entrypoint: config.entrypoint,
            image: config.image,
            healthcheck: config.healthcheck,
            exposed_ports: config.exposed_ports,
            working_dir: config.working_dir,
            stop_signal: config.stop_signal,
            stop_timeout: config.stop_timeout,
            labels: Some(labels),
            host_config: inspected.host_config,
            networking_config: Some(NetworkingConfig { endpoints_config: Some(endpoints) }),
            ..ContainerCreateBody::default()
        };
        let options = CreateContainerOptions { name: Some(format!("{prefix}{number}")), ..Default::default() };
        let created = self.docker.create_container(Some(options), body).await.context("creating a container")?;
        self.docker.start_container(&created.id, None).await.context("starting a container")?;
        Ok(())
    }

    /// Stops (SIGTERM, then the grace period) and removes a container.
    async fn stop_and_remove(&self, id: &str) -> anyhow::Result<()> {
        let stop = StopContainerOptions { t: Some(self.stop_timeout_secs), ..Default::default() };
        self.docker.stop_container(id, Some(stop)).await.context("stopping a container")?;
        self.docker.remove_container(id, Some(RemoveContainerOptions::default())).await.context("removing")?;
        Ok(())
    }
}

impl Pools for ComposePools {
    async fn size(&self, service: Service) -> anyhow::Result<u32> {
        let members = self.members(service).await?;
        Ok(members.iter().filter(|member| member.running).count() as u32)
    }

    async fn resize(&self, service: Service, current: u32, desired: u32) -> anyhow::Result<()> {
        let mut members = self.members(service).await?;
        members.sort_by_key(|member| member.number);
        if desired > current {
            let template = members.iter().rev().find(|member| member.running).with_context(|| {
                format!("no running {} container to copy: start one with `docker compose up`", service.name())
            })?;
            // Numbers of stopped containers stay taken: compose would refuse a second container of a name.
            let next = members.last().map_or(1, |member| member.number + 1);
            for number in next..next + (desired - current) {
                self.start_copy(&template.id, number).await?;
            }
        } else {
            let running = members.iter().rev().filter(|member| member.running);
            for member in running.take((current - desired) as usize) {
                self.stop_and_remove(&member.id).await?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use docclass_types::Queue;
    use docclass_types::topology::{self, env, timeouts};

    /// `docker-compose.yml` cannot import the topology; it must spell it the same way.
    #[test]
    fn docker_compose_yml_names_the_topology_as_the_code_does() {
        let file = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docker-compose.yml")).unwrap();
        let value = |name: &str| {
            let prefix = format!("  {name}: ");
            let line = file.lines().find(|line| line.starts_with(&prefix));
            line.unwrap_or_else(|| panic!("docker-compose.yml sets no {name}"))[prefix.len()..].trim().to_owned()
        };
        let stack = format!("${{{}:-{}}}", env::STACK, topology::DEFAULT_STACK);
        assert_eq!(value(env::STACK), stack);
        for queue in Queue::ALL {
            let url = value(queue.url_var());
            assert!(url.ends_with(&format!("/{}", queue.name(&stack))), "{}: {url}", queue.url_var());
            let dead_letters = value(queue.dead_letter_url_var());
            assert!(
                dead_letters.ends_with(&format!("/{}", queue.dead_letter_name(&stack))),
                "{}: {dead_letters}",
                queue.dead_letter_url_var()
            );
        }
        assert_eq!(value(env::TABLE), topology::result_table_name(&stack));
        assert_eq!(value(env::SEEN_TABLE), topology::seen_table_name(&stack));
        assert_eq!(value("stop_grace_period"), format!("{}s", timeouts::STOP.as_secs()));
        let visibility = format!("${{{}:-{}}}", env::VISIBILITY_TIMEOUT_SECS, timeouts::VISIBILITY.as_secs());
        assert_eq!(value(env::VISIBILITY_TIMEOUT_SECS), visibility);
    }
}

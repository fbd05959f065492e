pub async fn run(_json: bool) -> Result<(), crate::error::CliError> {
    Ok(())
}

//! Snapshots of the generated Enrich models: the JSON Schema of every model, and every
//! documented example payload of `specs/enrich/examples/` decoded into its generated type.

#![allow(clippy::unwrap_used, clippy::expect_used)] // tests: a panic is the failure report

use tollgate_enrich::types;

tollgate_tests::model_schemas!(
    "enrich",
    tollgate_enrich::types,
    [
        AsyncExport,
        AsyncExportResponse,
        BatchEmailFinderRequest,
        BatchEmailValidationRequest,
        BatchEmailValidationRequestEmailsItem,
        BatchResultsMeta,
        BatchStatus,
        BatchStatusData,
        BatchStatusResponse,
        BatchStatusValue,
        BatchStatusValueOther,
        BatchSubmitData,
        BatchSubmitMeta,
        BatchSubmitResponse,
        BulkLookupRequest,
        BulkLookupRequestEmailsItem,
        BulkLookupResponse,
        BulkLookupResults,
        BulkLookupResultsResponse,
        BulkLookupSubmitData,
        CancelTeamInvitationInvitationId,
        CancelTeamInvitationTeamId,
        CascadeLevel,
        CascadeLevelExcludeTitleItem,
        CascadeLevelIncludeTitleItem,
        CascadeLevelJobFunctionsItem,
        CascadeLevelJobLevelsItem,
        CascadeLevelLocationItem,
        CascadeLevelSkillsItem,
        CascadeStat,
        CompanyFollowerLimit,
        CompanyFollowerLimitResponse,
        CompanyFollowerProgressData,
        CompanyFollowerProgressResponse,
        CompanyFollowerRequest,
        CompanyFollowerScrapeBody,
        ContinueScrape,
        StartCompanyFollowerScrapeBatchId,
        CompanyFollowerRequestCompanyUrl,
        CompanyFollowerRequestName,
        CompanyFollowerResultsData,
        CompanyFollowerResultsResponse,
        Confidence,
        ConfidenceValue,
        ConfidenceValueOther,
        CountEstimateRequest,
        CountEstimateRequestCompanyUrl,
        CountEstimateResultData,
        CountEstimateStatus,
        CountEstimateStatusData,
        CountEstimateStatusResponse,
        CountEstimateStatusValue,
        CountEstimateStatusValueOther,
        DeleteSavedSearchId,
        DownloadExportJobJobId,
        EducationHistoryItem,
        EmailFinderBatchResults,
        EmailFinderBatchResultsResponse,
        EmailFinderRequest,
        EmailFinderRequestDomain,
        EmailFinderRequestFirstName,
        EmailFinderRequestLastName,
        EmailFinderResponse,
        EmailFinderResult,
        EmailValidationBatchResults,
        EmailValidationBatchResultsResponse,
        EmailValidationRequest,
        EmailValidationRequestEmail,
        EmailValidationResponse,
        EmailValidationResult,
        Employee,
        EmployeeFinderData,
        EmployeeFinderRequest,
        EmployeeFinderRequestCompanyLinkedinUrl,
        EmployeeFinderResponse,
        EmployeeLocation,
        EnrichmentMeta,
        ErrorEnvelope,
        ExportCompanyFollowerResultsBatchId,
        FiltersApplied,
        FindPhonesEmail,
        FindPhonesLinkedin,
        FollowerCountry,
        FollowerDepartment,
        FollowerFilters,
        FollowerLevel,
        FollowerProfile,
        FunctionBreakdownItem,
        GetCompanyFollowerProgressBatchId,
        GetCompanyFollowerResultsBatchId,
        GetCountEstimateBatchId,
        GetEmailFinderBatchBatchId,
        GetEmailFinderBatchResultsBatchId,
        GetEmailValidationBatchBatchId,
        GetEmailValidationBatchResultsBatchId,
        GetExportJobJobId,
        GetPhoneBulkJobJobId,
        GetPhoneBulkJobResultsJobId,
        GetRevealJobJobId,
        GetReverseLookupBulkBatchId,
        GetReverseLookupBulkResultsBatchId,
        IcpPerson,
        IcpPosition,
        IcpResult,
        Invitation,
        InvitationListResponse,
        InvitationResponse,
        InviteBody,
        InviteBodyEmail,
        InviteRole,
        InviteTeamMemberTeamId,
        JobProgress,
        JobStatus,
        JobStatusValue,
        JobStatusValueOther,
        Lead,
        LeadCount,
        LeadCountRequest,
        LeadCountResponse,
        LeadEnrichRequest,
        LeadEnrichResponse,
        LeadEnrichResponseData,
        LeadEnrichResult,
        LeadExcludeFilters,
        LeadExportJob,
        LeadExportJobList,
        LeadExportJobListResponse,
        LeadExportJobProgress,
        LeadExportJobResults,
        LeadExportJobStatusResponse,
        LeadExportJobSummary,
        LeadExportRequest,
        LeadExportRequestName,
        LeadFinderDeletedResponse,
        LeadFinderDeletedResponseData,
        LeadFinderFilterOptionsResponse,
        LeadFinderPagination,
        LeadFinderSearchFilters,
        LeadFinderSuggestResponse,
        LeadFinderSuggestResponseData,
        LeadRef,
        LeadRefId,
        LeadRevealRequest,
        LeadRevealResponse,
        LeadRevealResponseData,
        LeadSearchPreviewResult,
        LeadSearchRequest,
        LeadSearchResponse,
        LeadSearchResults,
        ListTeamInvitationsTeamId,
        ListTeamMembersTeamId,
        LookupRequest,
        LookupRequestEmail,
        Pagination,
        PhoneBatchRequest,
        PhoneBatchRequestEmailsItem,
        PhoneBatchRequestLinkedinsItem,
        PhoneBulkJobResults,
        PhoneBulkJobResultsResponse,
        PhoneBulkJobStatusData,
        PhoneBulkJobStatusResponse,
        PhoneBulkJobSubmitData,
        PhoneBulkJobSubmitResponse,
        PhoneBulkResultItem,
        PhoneLookupResponse,
        PhoneLookupResult,
        PositionHistoryItem,
        RankingFactors,
        RequestMeta,
        RevealField,
        RevealFieldValue,
        RevealFieldValueOther,
        RevealJob,
        RevealJobList,
        RevealJobListResponse,
        RevealJobPollResponse,
        RevealJobResults,
        RevealJobSubmit,
        RevealJobSubmitResponse,
        RevealJobSummary,
        RevealedContact,
        ReverseLookupResponse,
        ReverseLookupResult,
        ReverseLookupResultLocale,
        ReverseLookupResultPositions,
        ReverseLookupResultSchools,
        SavedSearchCreateRequest,
        SavedSearchCreateRequestName,
        SavedSearchItem,
        SavedSearchListResponse,
        SavedSearchResponse,
        SeniorityBreakdownItem,
        StartCompanyFollowerData,
        StartCompanyFollowerResponse,
        StartCountEstimateData,
        StartCountEstimateResponse,
        StartEndDate,
        StringOrList,
        SuccessOperationResponse,
        SuccessOperationResponseData,
        SuggestCompaniesQ,
        TeamMember,
        TeamMemberListResponse,
        TeamRole,
        TeamRoleValue,
        TeamRoleValueOther,
        TransactionType,
        TransactionTypeValue,
        TransactionTypeValueOther,
        UnlockNamesRequest,
        UnlockNamesResponse,
        UnlockNamesResponseData,
        UnlockedName,
        ValidationVerdict,
        ValidationVerdictValue,
        ValidationVerdictValueOther,
        WalletBalance,
        WalletBalanceResponse,
        WalletTransaction,
        WalletTransactions,
        WalletTransactionsResponse,
        WaterfallIcpSearchData,
        WaterfallIcpSearchRequest,
        WaterfallIcpSearchRequestCompanyLinkedinUrl,
        WaterfallIcpSearchResponse,
        WebhookCompanyFollowerCompletion,
        WebhookCompanyFollowerCompletionData,
        WebhookCompanyFollowerResult,
        WebhookCompanyFollowerResultData,
        WebhookEmailFinderCompletion,
        WebhookEmailFinderCompletionData,
        WebhookEmailFinderResult,
        WebhookEmailFinderResultData,
        WebhookEmailFinderResultDataResult,
        WebhookEmailValidationCompletion,
        WebhookEmailValidationCompletionData,
        WebhookEmailValidationResult,
        WebhookEmailValidationResultData,
        WebhookEmailValidationResultDataResult,
        WebhookPhoneCompletion,
        WebhookPhoneCompletionData,
        WebhookPhoneResult,
        WebhookPhoneResultData,
        WebhookReverseLookupCompletion,
        WebhookReverseLookupCompletionData,
        WebhookReverseLookupResult,
        WebhookReverseLookupResultData,
        YearMonth,
    ]
);

tollgate_tests::examples!("enrich", tollgate_enrich::types, {
    batch_status_unknown_value_and_field: BatchStatusResponse <= "batch-status-unknown-value-and-field.json";
    company_follower_limit_approved: CompanyFollowerLimitResponse <= "company-follower-limit-approved.json";
    company_follower_limit_none: CompanyFollowerLimitResponse <= "company-follower-limit-none.json";
    company_follower_progress: CompanyFollowerProgressResponse <= "company-follower-progress.json";
    company_follower_request: CompanyFollowerRequest <= "company-follower-request.json";
    company_follower_results: CompanyFollowerResultsResponse <= "company-follower-results.json";
    company_follower_started: StartCompanyFollowerResponse <= "company-follower-started.json";
    count_estimate_completed: CountEstimateStatusResponse <= "count-estimate-completed.json";
    count_estimate_request: CountEstimateRequest <= "count-estimate-request.json";
    count_estimate_started: StartCountEstimateResponse <= "count-estimate-started.json";
    email_finder_batch_request: BatchEmailFinderRequest <= "email-finder-batch-request.json";
    email_finder_batch_results: EmailFinderBatchResultsResponse <= "email-finder-batch-results.json";
    email_finder_batch_status: BatchStatusResponse <= "email-finder-batch-status.json";
    email_finder_batch_submitted: BatchSubmitResponse <= "email-finder-batch-submitted.json";
    email_finder_not_found: EmailFinderResult <= "email-finder-not-found.json";
    email_finder: EmailFinderResponse <= "email-finder.json";
    email_validation_batch_request: BatchEmailValidationRequest <= "email-validation-batch-request.json";
    email_validation_batch_results: EmailValidationBatchResultsResponse <= "email-validation-batch-results.json";
    email_validation_batch_status: BatchStatusResponse <= "email-validation-batch-status.json";
    email_validation_batch_submitted: BatchSubmitResponse <= "email-validation-batch-submitted.json";
    email_validation: EmailValidationResponse <= "email-validation.json";
    employee_finder: EmployeeFinderResponse <= "employee-finder.json";
    error_access_denied: ErrorEnvelope <= "error-access-denied.json";
    error_conflict: ErrorEnvelope <= "error-conflict.json";
    error_detail_object: ErrorEnvelope <= "error-detail-object.json";
    error_flat_auth: ErrorEnvelope <= "error-flat-auth.json";
    error_insufficient_credits: ErrorEnvelope <= "error-insufficient-credits.json";
    error_not_found: ErrorEnvelope <= "error-not-found.json";
    error_rate_limit_page_shape: ErrorEnvelope <= "error-rate-limit-page-shape.json";
    error_rate_limited: ErrorEnvelope <= "error-rate-limited.json";
    error_unauthorized_live: ErrorEnvelope <= "error-unauthorized-live.json";
    error_validation: ErrorEnvelope <= "error-validation.json";
    export_job_completed: LeadExportJobStatusResponse <= "export-job-completed.json";
    export_job_failed: LeadExportJobStatusResponse <= "export-job-failed.json";
    export_job_flat_schema: LeadExportJobStatusResponse <= "export-job-flat-schema.json";
    export_job_processing: LeadExportJobStatusResponse <= "export-job-processing.json";
    export_jobs: LeadExportJobListResponse <= "export-jobs.json";
    filter_options: LeadFinderFilterOptionsResponse <= "filter-options.json";
    invitation_cancelled: SuccessOperationResponse <= "invitation-cancelled.json";
    invitation: InvitationResponse <= "invitation.json";
    invite_body: InviteBody <= "invite-body.json";
    lead_count: LeadCountResponse <= "lead-count.json";
    lead_export_request: LeadExportRequest <= "lead-export-request.json";
    lead_export_submitted: AsyncExportResponse <= "lead-export-submitted.json";
    lead_reveal_request: LeadRevealRequest <= "lead-reveal-request.json";
    lead_reveal_submitted: RevealJobSubmitResponse <= "lead-reveal-submitted.json";
    lead_search_request: LeadSearchRequest <= "lead-search-request.json";
    lead_search: LeadSearchResponse <= "lead-search.json";
    phone_bulk_results: PhoneBulkJobResultsResponse <= "phone-bulk-results.json";
    phone_bulk_status: PhoneBulkJobStatusResponse <= "phone-bulk-status.json";
    phone_bulk_submitted: PhoneBulkJobSubmitResponse <= "phone-bulk-submitted.json";
    phone_lookup_none: PhoneLookupResponse <= "phone-lookup-none.json";
    phone_lookup: PhoneLookupResponse <= "phone-lookup.json";
    reveal_job_completed: RevealJobPollResponse <= "reveal-job-completed.json";
    reveal_job_failed: RevealJobPollResponse <= "reveal-job-failed.json";
    reveal_job_pending: RevealJobPollResponse <= "reveal-job-pending.json";
    reveal_jobs: RevealJobListResponse <= "reveal-jobs.json";
    reverse_bulk_results: BulkLookupResultsResponse <= "reverse-bulk-results.json";
    reverse_bulk_status: BatchStatusResponse <= "reverse-bulk-status.json";
    reverse_bulk_submitted: BulkLookupResponse <= "reverse-bulk-submitted.json";
    reverse_lookup_none: ReverseLookupResponse <= "reverse-lookup-none.json";
    reverse_lookup: ReverseLookupResponse <= "reverse-lookup.json";
    saved_search_deleted: LeadFinderDeletedResponse <= "saved-search-deleted.json";
    saved_searches: SavedSearchListResponse <= "saved-searches.json";
    suggest: LeadFinderSuggestResponse <= "suggest.json";
    team_members: TeamMemberListResponse <= "team-members.json";
    unlock_names: UnlockNamesResponse <= "unlock-names.json";
    wallet_balance: WalletBalanceResponse <= "wallet-balance.json";
    wallet_transactions: WalletTransactionsResponse <= "wallet-transactions.json";
    waterfall_icp_request: WaterfallIcpSearchRequest <= "waterfall-icp-request.json";
    waterfall_icp_search_empty: WaterfallIcpSearchResponse <= "waterfall-icp-search-empty.json";
    waterfall_icp_search: WaterfallIcpSearchResponse <= "waterfall-icp-search.json";
    webhook_company_follower_completion: WebhookCompanyFollowerCompletion <= "webhook-company-follower-completion.json";
    webhook_company_follower_result: WebhookCompanyFollowerResult <= "webhook-company-follower-result.json";
    webhook_email_finder_completion: WebhookEmailFinderCompletion <= "webhook-email-finder-completion.json";
    webhook_email_finder_result: WebhookEmailFinderResult <= "webhook-email-finder-result.json";
    webhook_email_validation_completion: WebhookEmailValidationCompletion <= "webhook-email-validation-completion.json";
    webhook_email_validation_result: WebhookEmailValidationResult <= "webhook-email-validation-result.json";
    webhook_phone_completion: WebhookPhoneCompletion <= "webhook-phone-completion.json";
    webhook_phone_result: WebhookPhoneResult <= "webhook-phone-result.json";
    webhook_reverse_lookup_completion: WebhookReverseLookupCompletion <= "webhook-reverse-lookup-completion.json";
    webhook_reverse_lookup_result: WebhookReverseLookupResult <= "webhook-reverse-lookup-result.json";
});

#[test]
fn every_error_shape_decodes_into_the_envelope() {
    let problem: types::ErrorEnvelope = tollgate_tests::decode_example(
        "enrich",
        "ErrorEnvelope",
        "error-insufficient-credits.json",
    );
    assert_eq!(
        (problem.status, problem.required, problem.current_balance),
        (Some(402), Some(10), Some(3))
    );
    let flat: types::ErrorEnvelope =
        tollgate_tests::decode_example("enrich", "ErrorEnvelope", "error-flat-auth.json");
    assert_eq!(
        flat.error.as_deref(),
        Some("API key is disabled. Re-enable it from the dashboard.")
    );
    let page: types::ErrorEnvelope = tollgate_tests::decode_example(
        "enrich",
        "ErrorEnvelope",
        "error-rate-limit-page-shape.json",
    );
    assert_eq!((page.status_code, page.retry_after), (Some(429), Some(45)));
    let detail: types::ErrorEnvelope =
        tollgate_tests::decode_example("enrich", "ErrorEnvelope", "error-detail-object.json");
    assert_eq!(detail.detail.unwrap()["creditCostPerItem"], 100);
}

#[test]
fn unknown_statuses_decode_as_other() {
    let answer: types::BatchStatusResponse = tollgate_tests::decode_example(
        "enrich",
        "BatchStatusResponse",
        "batch-status-unknown-value-and-field.json",
    );
    match answer.data.unwrap().status {
        Some(types::BatchStatusValue::Other(s)) => assert_eq!(s.as_str(), "partial"),
        other => panic!("expected Other(partial), got {other:?}"),
    }
}

#[test]
fn the_meta_carries_what_a_call_cost() {
    let single: types::EmailValidationResponse = tollgate_tests::decode_example(
        "enrich",
        "EmailValidationResponse",
        "email-validation.json",
    );
    assert_eq!(single.meta.unwrap().credits_used, Some(1));
    let submitted: types::BatchSubmitResponse = tollgate_tests::decode_example(
        "enrich",
        "BatchSubmitResponse",
        "email-validation-batch-submitted.json",
    );
    let meta = submitted.meta.unwrap();
    assert_eq!(
        (meta.credits_reserved, meta.credits_per_item),
        (Some(4), Some(1))
    );
    let settled: types::EmailValidationBatchResultsResponse = tollgate_tests::decode_example(
        "enrich",
        "EmailValidationBatchResultsResponse",
        "email-validation-batch-results.json",
    );
    let meta = settled.meta.unwrap();
    assert_eq!(
        (meta.credits_used, meta.credits_refunded),
        (Some(2), Some(2))
    );
}

#[test]
fn lead_filters_take_one_value_or_several() {
    let request: types::LeadSearchRequest =
        tollgate_tests::decode_example("enrich", "LeadSearchRequest", "lead-search-request.json");
    assert!(
        matches!(request.filters.job_level, Some(types::StringOrList::Many(ref v)) if v.len() == 2)
    );
    assert_eq!(request.filters.city.as_deref(), Some("San Francisco"));
    assert!(
        matches!(request.exclude_filters.unwrap().job_title, Some(types::StringOrList::One(ref t)) if t == "Intern")
    );
}

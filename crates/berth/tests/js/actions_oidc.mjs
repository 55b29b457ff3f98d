// What a GitHub Actions step does to reach AWS, with the real libraries it uses:
// @actions/core's getIDToken (ACTIONS_ID_TOKEN_REQUEST_URL/_TOKEN from the environment),
// then the AWS SDK v3 STS client (what configure-aws-credentials uses) assumes ROLE_ARN
// with the token and asks GetCallerIdentity with the session's credentials.
// The endpoint and region come from AWS_ENDPOINT_URL and AWS_REGION.
// Prints one line `RESULT <json>` (getIDToken itself writes `::add-mask::` lines).
import * as core from '@actions/core';
import {
  STSClient,
  AssumeRoleWithWebIdentityCommand,
  GetCallerIdentityCommand,
} from '@aws-sdk/client-sts';

const audience = process.argv[2] ?? 'sts.amazonaws.com';
const roleArn = process.env.ROLE_ARN;

const token = await core.getIDToken(audience);
const anonymous = new STSClient({ maxAttempts: 1 });
const assumed = await anonymous.send(
  new AssumeRoleWithWebIdentityCommand({
    RoleArn: roleArn,
    RoleSessionName: 'GitHubActions',
    WebIdentityToken: token,
    DurationSeconds: 900,
  }),
);
const c = assumed.Credentials;
const session = new STSClient({
  maxAttempts: 1,
  credentials: {
    accessKeyId: c.AccessKeyId,
    secretAccessKey: c.SecretAccessKey,
    sessionToken: c.SessionToken,
  },
});
const identity = await session.send(new GetCallerIdentityCommand({}));
console.log(
  'RESULT ' +
    JSON.stringify({
      token,
      subject: assumed.SubjectFromWebIdentityToken,
      audience: assumed.Audience,
      provider: assumed.Provider,
      assumedRoleArn: assumed.AssumedRoleUser.Arn,
      expiration: c.Expiration,
      identity: { Arn: identity.Arn, Account: identity.Account, UserId: identity.UserId },
    }),
);
